package dev.compress.cli;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import dev.compress.Json;
import dev.compress.graph.OnnxModel;
import dev.compress.pipeline.PassContext;
import dev.compress.pipeline.Passes;
import dev.compress.pipeline.Pipeline;
import dev.compress.pipeline.PipelineResult;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** A new pass ({@link StripDocStrings}, registered by a services file only) through the library and the CLI. */
class PipelineTest {
    @TempDir
    Path temp;

    /** The shipped CNN with a doc string on every node, as exporters write source locations. */
    private Path documented() {
        OnnxModel model = OnnxModel.load(Fixtures.cnn());
        model.graph().nodes().forEach(n -> n.setDocString("model.py:" + n.name()));
        Path file = temp.resolve("documented.onnx");
        model.save(file);
        return file;
    }

    @Test
    void aRegisteredPassRunsThroughThePipelineAndRecordsItsProvenance() {
        OnnxModel source = OnnxModel.load(documented());
        int nodes = source.graph().nodes().size();

        PipelineResult result = Pipeline.of(Passes.find("strip-doc-strings")).run(source, PassContext.silent());

        assertThat(result.report(StripDocStrings.Report.class).stripped()).isEqualTo(nodes);
        assertThat(result.model().graph().nodes()).allMatch(n -> n.docString().isEmpty());
        assertThat(result.model().metadata()).containsEntry("compress.strip-doc-strings", "{\"stripped\":" + nodes + "}");
        assertThat(result.model().producerName()).isEqualTo("compress");
        // the input model is not changed
        assertThat(source.graph().nodes()).allMatch(n -> !n.docString().isEmpty());
        assertThat(source.metadata()).doesNotContainKey("compress.strip-doc-strings");
    }

    @Test
    void aRegisteredPassRunsFromTheCommandLine() throws IOException {
        Path model = documented();
        Path out = temp.resolve("stripped.onnx");

        Cli.Result result = Cli.run("run", "--model", model.toString(), "--pass", "strip-doc-strings",
                "--out", out.toString());

        assertThat(result.exitCode()).as(result.toString()).isZero();
        assertThat(OnnxModel.load(out).graph().nodes()).isNotEmpty().allMatch(n -> n.docString().isEmpty());
        JsonNode report = Json.MAPPER.readTree(temp.resolve("stripped.json").toFile());
        assertThat(report.at("/steps/0/pass").asText()).isEqualTo("strip-doc-strings");
        assertThat(report.at("/steps/0/report/stripped").asInt())
                .isEqualTo(OnnxModel.load(model).graph().nodes().size());
        assertThat(Cli.run("run", "--list").out()).contains("strip-doc-strings");
    }

    @Test
    void anUnknownPassIsAUsageErrorNamingThePassesThereAre() {
        Cli.Result result = Cli.run("run", "--model", Fixtures.cnn().toString(), "--pass", "no-such-pass",
                "--out", temp.resolve("x.onnx").toString());

        assertThat(result.exitCode()).isEqualTo(ExitCode.USAGE);
        assertThat(result.errLines()).hasSize(1).first().asString()
                .isEqualTo("error: no pass 'no-such-pass'; available: " + String.join(", ", Passes.available().keySet()));
        assertThat(Files.exists(temp.resolve("x.onnx"))).isFalse();
    }
}
