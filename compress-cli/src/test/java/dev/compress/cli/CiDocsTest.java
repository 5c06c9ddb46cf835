package dev.compress.cli;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatCode;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.dataformat.yaml.YAMLMapper;
import dev.compress.testing.TestData;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;

/**
 * The GitHub Actions workflow and the GitLab CI file in docs/ci.md parse as YAML, and the compress commands they run
 * parse with this build's options (picocli; nothing runs), on files that exist.
 */
class CiDocsTest {
    private static final Pattern YAML_BLOCK = Pattern.compile("```yaml\n(.*?)```", Pattern.DOTALL);

    private static List<JsonNode> yamlBlocks() throws IOException {
        String text = Files.readString(TestData.repoRoot().resolve("docs/ci.md"));
        List<JsonNode> blocks = new ArrayList<>();
        Matcher block = YAML_BLOCK.matcher(text);
        while (block.find()) {
            blocks.add(new YAMLMapper().readTree(block.group(1)));
        }
        return blocks;
    }

    /** Every shell command of a workflow's steps ({@code run}) or of GitLab jobs ({@code script}). */
    private static List<String> commands(JsonNode file) {
        List<String> commands = new ArrayList<>();
        if (file.has("jobs")) {
            file.get("jobs").forEach(job -> job.path("steps").forEach(step -> {
                if (step.has("run")) {
                    commands.add(step.get("run").asText());
                }
            }));
        } else {
            file.forEach(job -> job.path("script").forEach(line -> commands.add(line.asText())));
        }
        return commands;
    }

    @Test
    void theCiFilesParseAndTheirCompressCommandsAreThisBuildsOptions() throws IOException {
        List<JsonNode> blocks = yamlBlocks();
        JsonNode github = blocks.stream().filter(b -> b.has("jobs")).findFirst().orElseThrow();
        JsonNode gitlab = blocks.stream().filter(b -> b.has("compress-gates")).findFirst().orElseThrow();
        assertThat(github.get("jobs").fieldNames()).toIterable().containsExactly("gates", "regression");
        assertThat(gitlab.fieldNames()).toIterable()
                .containsExactly("compress-gates", "compress-baseline", "compress-regression");

        List<String> compress = new ArrayList<>();
        for (JsonNode file : List.of(github, gitlab)) {
            for (String command : commands(file)) {
                String line = command.strip().replaceAll("\\s+", " ");
                if (line.startsWith("./compress ")) {
                    compress.add(line);
                } else {
                    assertThat(line).as("a command of docs/ci.md").matches("mvn -B -q -DskipTests package"
                            + "|rm -rf \\.compress-baseline && cp -r \\.compress-run \\.compress-baseline");
                }
            }
        }
        assertThat(compress).hasSize(4);
        for (String line : compress) {
            String[] args = line.substring("./compress ".length()).split(" ");
            // parsing checks every option name, its arity and its value's type, as a run would before working
            assertThatCode(() -> Main.commandLine().parseArgs(args)).as(line).doesNotThrowAnyException();
            assertThat(args[0]).isEqualTo("run");
            Path recipe = Path.of(args[1]);
            if (!recipe.toString().equals("regression.yaml")) { // the doc's own example, made from the shipped one
                assertThat(TestData.repoRoot().resolve(recipe)).as(line).isRegularFile();
            }
        }
        // GitLab's Maven cache is keyed on these files
        gitlab.at("/compress-gates/cache/0/key/files").forEach(file ->
                assertThat(TestData.repoRoot().resolve(file.asText())).isRegularFile());
        assertThat(TestData.repoRoot().resolve("compress")).as("the launcher the jobs run").isExecutable();
    }

    @Test
    void aWrongOptionWouldFailThisCheck() {
        assertThatCode(() -> Main.commandLine().parseArgs("run", "x.yaml", "--junits", "g.xml"))
                .isInstanceOf(picocli.CommandLine.UnmatchedArgumentException.class);
    }
}
