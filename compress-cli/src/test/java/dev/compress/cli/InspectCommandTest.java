package dev.compress.cli;

import static org.assertj.core.api.Assertions.assertThat;

import dev.compress.inspect.ModelInspector;
import dev.compress.inspect.ModelSummary;
import dev.compress.onnx.proto.Onnx.ModelProto;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import java.util.TreeMap;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class InspectCommandTest {
    @TempDir
    Path temp;

    @Test
    void printsTheOpHistogramOnStdout() throws Exception {
        Path model = Fixtures.resnet();
        Map<String, Integer> ops = new TreeMap<>();
        ModelProto.parseFrom(Files.readAllBytes(model)).getGraph().getNodeList()
                .forEach(n -> ops.merge(n.getOpType(), 1, Integer::sum));

        Cli.Result result = Cli.run("inspect", model.toString());

        assertThat(result.exitCode()).as(result.toString()).isEqualTo(ExitCode.OK);
        assertThat(result.err()).isEmpty();
        assertThat(result.out()).contains("input FLOAT [batch,1,28,28]", "opsets      ai.onnx 13");
        ops.forEach((op, count) -> assertThat(result.out()).containsPattern("(?m)^  " + op + " +" + count + "$"));
    }

    @Test
    void jsonIsTheSummary() {
        Path model = Fixtures.cnn();
        Cli.Result result = Cli.run("inspect", model.toString(), "--json");
        assertThat(result.exitCode()).isEqualTo(ExitCode.OK);
        assertThat(ModelSummary.fromJson(result.out())).isEqualTo(ModelInspector.inspect(model));
    }

    @Test
    void listsNodesForExclude() throws Exception {
        Path model = Fixtures.cnn();
        Cli.Result result = Cli.run("inspect", model.toString(), "--nodes");
        assertThat(result.exitCode()).isEqualTo(ExitCode.OK);
        for (var node : ModelProto.parseFrom(Files.readAllBytes(model)).getGraph().getNodeList()) {
            assertThat(result.out()).contains("  " + node.getName() + "  " + node.getOpType() + "  ");
        }
        assertThat(Cli.run("inspect", model.toString(), "--nodes", "--json").exitCode()).isEqualTo(ExitCode.USAGE);
    }

    @Test
    void chineseFileName() throws Exception {
        Path model = Files.copy(Fixtures.cnn(), temp.resolve("模型.onnx"));
        Cli.Result result = Cli.run("--quiet", "inspect", model.toString());
        assertThat(result.exitCode()).as(result.toString()).isEqualTo(ExitCode.OK);
        assertThat(result.out()).contains("模型.onnx");
    }
}
