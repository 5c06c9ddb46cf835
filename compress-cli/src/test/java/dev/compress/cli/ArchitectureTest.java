package dev.compress.cli;

import static com.tngtech.archunit.lang.syntax.ArchRuleDefinition.noClasses;
import static org.assertj.core.api.Assertions.assertThat;

import com.tngtech.archunit.core.domain.JavaClasses;
import com.tngtech.archunit.core.importer.ClassFileImporter;
import dev.compress.graph.Graph;
import dev.compress.quantize.Quantizer;
import org.junit.jupiter.api.Test;

/** Which package may use what: the boundaries docs/design.md describes, checked on the compiled classes. */
class ArchitectureTest {
    private static final JavaClasses CLASSES = new ClassFileImporter()
            // main classes only (tests may build models from the protobuf classes): by name, since builds with
            // -Dcompress.target=... put test classes elsewhere than target/, and the core's come as a test jar
            .withImportOption(location -> !location.contains("/test-classes/") && !location.contains("-tests.jar"))
            .importPackages("dev.compress");

    @Test
    void theCoreKnowsNothingOfTheCommandLine() {
        noClasses().that().resideOutsideOfPackage("dev.compress.cli..")
                .should().dependOnClassesThat().resideInAPackage("picocli..")
                .check(CLASSES);
    }

    @Test
    void onlyTheGraphTouchesOnnxProtobufClasses() {
        // passes work on the graph model; reading and writing the file format is the graph package's alone
        noClasses().that().resideOutsideOfPackages("dev.compress.graph..", "dev.compress.onnx.proto..")
                .should().dependOnClassesThat().resideInAPackage("dev.compress.onnx.proto..")
                .check(CLASSES);
    }

    @Test
    void theRulesSeeTheCoreAndTheCommandLine() {
        // a rule over no classes passes whatever it says
        assertThat(CLASSES.contain(Quantizer.class)).isTrue();
        assertThat(CLASSES.contain(Graph.class)).isTrue();
        assertThat(CLASSES.contain(QuantizeCommand.class)).isTrue();
    }

    @Test
    void theCoreDoesNotDependOnTheCommandLine() {
        noClasses().that().resideOutsideOfPackage("dev.compress.cli..")
                .should().dependOnClassesThat().resideInAPackage("dev.compress.cli..")
                .check(CLASSES);
    }

    @Test
    void dataDoesNotDependOnStages() {
        noClasses().that().resideInAPackage("dev.compress.data..")
                .should().dependOnClassesThat().resideInAnyPackage("dev.compress.inspect..",
                        "dev.compress.quantize..", "dev.compress.prune..", "dev.compress.calibrate..",
                        "dev.compress.eval..", "dev.compress.score..", "dev.compress.debug..")
                .check(CLASSES);
    }

    @Test
    void theStageContractDependsOnNoStage() {
        noClasses().that().resideInAPackage("dev.compress.pipeline..")
                .should().dependOnClassesThat().resideInAnyPackage("dev.compress.quantize..",
                        "dev.compress.prune..", "dev.compress.calibrate..", "dev.compress.eval..",
                        "dev.compress.score..", "dev.compress.debug..", "dev.compress.data..")
                .check(CLASSES);
    }
}
