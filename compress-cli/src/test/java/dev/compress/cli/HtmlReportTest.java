package dev.compress.cli;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import dev.compress.Json;
import dev.compress.testing.TestData;
import java.awt.image.BufferedImage;
import java.io.ByteArrayInputStream;
import java.io.File;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Base64;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Locale;
import java.util.Set;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;
import javax.imageio.ImageIO;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The HTML report of {@code compress run}: one file with every chart inlined and nothing to fetch, the same bytes
 * for the same run (in another process too), the run folder's figures with the Chinese class names; and opened in
 * headless Chromium, every image decodes and every Chinese name is drawn in a font that has its glyphs.
 */
class HtmlReportTest {
    @TempDir
    static Path temp;

    static Path recipe;
    static Path run;
    static Path html;
    static String report;

    /** Every check the report draws, kept short: 16 samples for the layers, one sparsity besides the step's own. */
    @BeforeAll
    static void runTheRecipeTwiceTheSecondAgainstTheFirst() throws IOException {
        String data = TestData.fashionMnist().toString();
        recipe = Files.writeString(temp.resolve("report.yaml"), "model: " + Fixtures.resnet() + "\ndata:\n"
                + "  calibration: " + data + "/calib\n  evaluation: " + data + "/heldout\n"
                + "steps:\n  - {name: prune, pass: prune, sparsity: 0.1}\n  - {name: quantize, pass: quantize-static}\n"
                + "checks:\n  - {name: eval, check: eval}\n  - {name: size, check: size}\n"
                + "  - {name: fidelity, check: fidelity}\n"
                + "  - {name: latency, check: latency, seconds: 0.2, threads: 1}\n"
                + "  - {name: layers, check: debug, samples: 16, histograms: 2}\n"
                + "  - {name: scan, check: prune-scan, sparsities: [0.5]}\n"
                + "gates:\n  - {name: drop, metric: eval.top1-drop, max: 1}\n"
                + "  - {name: cosine, metric: fidelity.cosine, min: 0.99}\n"
                + "  - {name: smaller, metric: size.ratio, max: 0.3}\n"
                + "report:\n  title: Report test\n  classNames: " + data + "/labels-zh.txt\n");
        run = temp.resolve("report.run");
        Cli.Result first = Cli.run("run", recipe.toString(), "--run-dir", run.toString(), "--step-summary",
                temp.resolve("summary.md").toString());
        assertThat(first.exitCode()).as(first.toString()).isZero();
        // the same run as its own baseline (a copy, as CI would restore the main branch's): every step cached
        copyFolder(run, temp.resolve("main.run"));
        html = temp.resolve("report.html");
        Cli.Result second = Cli.run("run", recipe.toString(), "--run-dir", run.toString(), "--baseline",
                temp.resolve("main.run/run.json").toString(), "--html", html.toString(), "--step-summary",
                temp.resolve("summary.md").toString());
        assertThat(second.exitCode()).as(second.toString()).isZero();
        assertThat(second.out()).contains("(11 of 11 steps cached)").contains("report: " + html);
        report = Files.readString(html, StandardCharsets.UTF_8);
    }

    private static void copyFolder(Path from, Path to) throws IOException {
        Files.createDirectories(to);
        try (Stream<Path> files = Files.list(from)) {
            for (Path file : files.toList()) {
                Files.copy(file, to.resolve(file.getFileName()));
            }
        }
    }

    private static List<String> imageSources(String html) {
        List<String> sources = new ArrayList<>();
        Matcher img = Pattern.compile("<img src=\"([^\"]*)\"").matcher(html);
        while (img.find()) {
            sources.add(img.group(1));
        }
        return sources;
    }

    @Test
    void oneFileWithEveryChartInlinedAndNothingToFetch() throws IOException {
        assertThat(Files.readAllBytes(run.resolve("report.html"))).isEqualTo(Files.readAllBytes(html));
        String lower = report.toLowerCase(Locale.ROOT);
        assertThat(lower).doesNotContain("http:", "https:", "<script", "<link", "url(", "@import", "<iframe");
        List<String> images = imageSources(report);
        // per-class accuracy, layer SQNR, two histograms, accuracy against sparsity
        assertThat(images).hasSize(5);
        for (String source : images) {
            assertThat(source).startsWith("data:image/png;base64,");
            BufferedImage image = ImageIO.read(new ByteArrayInputStream(Base64.getDecoder().decode(
                    source.substring("data:image/png;base64,".length()))));
            assertThat(image).isNotNull();
            assertThat(image.getWidth()).isGreaterThan(400);
        }
    }

    @Test
    void theSameRunGivesTheSameBytesInAnotherProcessAndLocale() throws Exception {
        // a copy of the run folder elsewhere, reported by a child JVM in German: all steps cached, the same HTML
        Path child = Files.createDirectories(temp.resolve("child"));
        copyFolder(run, child.resolve("copy.run"));
        List<String> command = new ArrayList<>(List.of(Path.of(System.getProperty("java.home"), "bin", "java")
                .toString(), "-Djava.io.tmpdir=" + System.getProperty("java.io.tmpdir"), ExportCommandTest.CHILD_STACK,
                "-Duser.language=de", "-Duser.country=DE", "-cp", System.getProperty("java.class.path"),
                Main.class.getName(), "run", recipe.toString(), "--run-dir", "copy.run", "--baseline",
                temp.resolve("main.run/run.json").toString(), "--html", "again.html"));
        Process process = new ProcessBuilder(command).directory(child.toFile()).redirectErrorStream(true)
                .redirectOutput(child.resolve("child.log").toFile()).start();
        assertThat(process.waitFor(120, TimeUnit.SECONDS)).isTrue();
        String log = Files.readString(child.resolve("child.log"));
        assertThat(process.exitValue()).as(log).isZero();

        assertThat(log).contains("(11 of 11 steps cached)");
        assertThat(Files.readAllBytes(child.resolve("again.html"))).isEqualTo(Files.readAllBytes(html));
    }

    @Test
    void itShowsTheRunFoldersFiguresWithTheClassNames() throws IOException {
        List<String> chinese = Files.readAllLines(TestData.fashionMnist().resolve("labels-zh.txt"),
                StandardCharsets.UTF_8).stream().map(String::strip).filter(s -> !s.isEmpty()).toList();
        JsonNode eval = Json.MAPPER.readTree(run.resolve("03-eval.json").toFile());
        JsonNode predictions = Json.MAPPER.readTree(run.resolve("03-eval.predictions.json").toFile());
        assertThat(report).contains("<title>Report test</title>").contains("All 3 gates passed");
        for (int c = 0; c < chinese.size(); c++) {
            JsonNode perClass = eval.get("perClass").get(c);
            long samples = 0;
            long sourceRight = 0;
            for (int i = 0; i < predictions.get("labels").size(); i++) {
                if (predictions.get("labels").get(i).asInt() == c) {
                    samples++;
                    sourceRight += predictions.get("source").get(i).asInt() == c ? 1 : 0;
                }
            }
            // the class's row: index, folder name, Chinese name, samples, the source's and this run's accuracy
            assertThat(report).contains(String.format(Locale.ROOT, "<tr><td class=\"num\">%d</td><td>%s</td>"
                    + "<td><span class=\"zh\" lang=\"zh\">%s</span></td><td class=\"num\">%d</td>"
                    + "<td class=\"num\">%.1f%%</td><td class=\"num\">%.1f%%</td>", c, perClass.get("name").asText(),
                    chinese.get(c), perClass.get("samples").asLong(), 100.0 * sourceRight / samples,
                    100 * perClass.get("accuracy").asDouble()));
        }
        JsonNode gate = Json.MAPPER.readTree(run.resolve("09-drop.json").toFile());
        assertThat(report).contains(HtmlEscape.of(gate.get("message").asText()));
        // against the baseline: the same model, so no change sample by sample
        assertThat(report).contains("<th>baseline</th>").contains("top-1 drop against the baseline (95% CI)")
                .contains("0 points (").contains("b=0 c=0, p = 1.0000");
        assertThat(report).contains("<h2>Activation histograms of the worst layers</h2>")
                .contains("<h2>Accuracy against sparsity</h2>").contains("50%</td>");
    }

    /** HTML escaping as the report does it, for comparing messages. */
    private static final class HtmlEscape {
        static String of(String text) {
            return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace("\"", "&quot;");
        }
    }

    // ---- headless Chromium

    /**
     * Appended to a copy of the report: after loading, records every image's decoded size, and for every character of
     * every Chinese name whether it draws exactly as a code point no font has (U+10FFFD): a missing-glyph box, or
     * nothing at all. Chromium's --dump-dom then prints it with the page.
     */
    static final String PROBE = String.join("\n",
            "<script>",
            "window.addEventListener('load', () => {",
            "  const out = {images: [], names: []};",
            "  for (const img of document.images) {",
            "    out.images.push({alt: img.alt, complete: img.complete, width: img.naturalWidth});",
            "  }",
            "  const canvas = document.createElement('canvas');",
            "  canvas.width = 96; canvas.height = 96;",
            "  const g = canvas.getContext('2d', {willReadFrequently: true});",
            "  const draw = (ch, font) => {",
            "    g.clearRect(0, 0, 96, 96); g.font = font; g.fillStyle = '#000'; g.textBaseline = 'top';",
            "    g.fillText(ch, 8, 8);",
            "    const data = g.getImageData(0, 0, 96, 96).data;",
            "    let hash = 0;",
            "    for (let i = 3; i < data.length; i += 4) hash = (hash * 31 + data[i]) % 1000000007;",
            "    return hash;",
            "  };",
            "  for (const el of document.querySelectorAll('.zh')) {",
            "    const font = '32px ' + getComputedStyle(el).fontFamily;",
            "    const tofu = draw('\\u{10FFFD}', font);",
            "    const missing = [...el.textContent]",
            "        .filter(ch => /\\p{Script=Han}/u.test(ch) && draw(ch, font) === tofu);",
            "    out.names.push({text: el.textContent, missing: missing.join('')});",
            "  }",
            "  const pre = document.createElement('pre');",
            "  pre.id = 'probe';",
            "  pre.textContent = JSON.stringify(out);",
            "  document.body.appendChild(pre);",
            "});",
            "</script>",
            "");

    /**
     * Chromium of Debian's package {@code chromium}, with {@code fonts-noto-cjk} beside it (the Chinese labels cannot
     * render without a CJK font); the test is skipped, naming the packages, without either.
     */
    static Path chromium() {
        boolean cjkFont = Files.isRegularFile(Path.of("/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc"));
        for (String candidate : List.of("/usr/bin/chromium", "/usr/bin/chromium-browser")) {
            if (cjkFont && Files.isExecutable(Path.of(candidate))) {
                return Path.of(candidate);
            }
        }
        Assumptions.abort("Debian packages chromium and fonts-noto-cjk are not installed"
                + " (apt-get install -y chromium fonts-noto-cjk)");
        return null;
    }

    /**
     * Runs headless Chromium on {@code page} with no network at all (every host name fails to resolve), in a fresh
     * profile; {@code fontConfig}, if not null, is the fontconfig file it reads. Returns its stdout.
     */
    static String chromium(Path page, Path fontConfig, String... flags) throws Exception {
        Path profile = Files.createTempDirectory(temp, "profile");
        List<String> command = new ArrayList<>(List.of(chromium().toString(), "--headless", "--disable-gpu",
                "--hide-scrollbars", "--no-first-run", "--disable-extensions", "--disable-background-networking",
                "--disable-component-update", "--disable-sync", "--no-pings", "--disable-dev-shm-usage",
                "--host-resolver-rules=MAP * ~NOTFOUND", "--user-data-dir=" + profile,
                "--virtual-time-budget=15000"));
        if ("root".equals(System.getProperty("user.name"))) {
            command.add("--no-sandbox"); // Chromium refuses to run as root with its sandbox
        }
        command.addAll(List.of(flags));
        command.add(page.toUri().toString());
        ProcessBuilder builder = new ProcessBuilder(command).redirectError(ProcessBuilder.Redirect.DISCARD);
        if (fontConfig != null) {
            builder.environment().put("FONTCONFIG_FILE", fontConfig.toString());
        }
        Path out = Files.createTempFile(temp, "chromium", ".out");
        Process process = builder.redirectOutput(out.toFile()).start();
        assertThat(process.waitFor(120, TimeUnit.SECONDS)).as("chromium finished within 120 s").isTrue();
        assertThat(process.exitValue()).as("chromium's exit code").isZero();
        return Files.readString(out, StandardCharsets.UTF_8);
    }

    /** What {@link #PROBE} found on the report, rendered by Chromium with {@code fontConfig} (null: the system's). */
    static JsonNode probe(Path fontConfig) throws Exception {
        Path probed = temp.resolve("probed.html");
        Files.writeString(probed, report.replace("</body>", PROBE + "</body>"), StandardCharsets.UTF_8);
        String dom = chromium(probed, fontConfig, "--dump-dom");
        Matcher probe = Pattern.compile("<pre id=\"probe\">(.*?)</pre>", Pattern.DOTALL).matcher(dom);
        assertThat(probe.find()).as("the probe's output in Chromium's DOM dump").isTrue();
        return Json.MAPPER.readTree(probe.group(1).replace("&amp;", "&").replace("&lt;", "<").replace("&gt;", ">")
                .replace("&quot;", "\""));
    }

    /**
     * A fontconfig file that sees only the system's fonts without Chinese (those {@code fc-list :lang=zh} does not
     * list), linked into a folder of their own: the report as a machine without fonts-noto-cjk shows it.
     */
    static Path fontConfigWithoutChinese() throws Exception {
        Path folder = Files.createDirectories(temp.resolve("fonts-without-zh"));
        Set<String> all = fcList(":");
        all.removeAll(fcList(":lang=zh"));
        int i = 0;
        for (String font : all) {
            String name = Path.of(font).getFileName().toString();
            Files.createSymbolicLink(folder.resolve(i++ + "-" + name), Path.of(font));
        }
        Path config = temp.resolve("fonts-without-zh.conf");
        Files.writeString(config, "<?xml version=\"1.0\"?>\n<!DOCTYPE fontconfig SYSTEM \"fonts.dtd\">\n"
                + "<fontconfig>\n  <dir>" + folder + "</dir>\n  <cachedir>" + temp.resolve("fontconfig-cache")
                + "</cachedir>\n</fontconfig>\n");
        return config;
    }

    private static Set<String> fcList(String pattern) throws Exception {
        Set<String> files = new LinkedHashSet<>();
        try {
            Process process = new ProcessBuilder("fc-list", pattern, "file").redirectErrorStream(true).start();
            String text = new String(process.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
            process.waitFor(30, TimeUnit.SECONDS);
            text.lines().map(l -> l.replaceAll(":\\s*$", "").strip()).filter(l -> new File(l).isFile())
                    .forEach(files::add);
        } catch (IOException e) {
            // no fc-list: an empty folder, no fonts at all, which draws no glyph either
        }
        return files;
    }

    @Test
    void inHeadlessChromiumEveryImageDecodesAndTheChineseNamesHaveTheirGlyphs() throws Exception {
        chromium();
        List<String> chinese = Files.readAllLines(TestData.fashionMnist().resolve("labels-zh.txt"),
                StandardCharsets.UTF_8).stream().map(String::strip).filter(s -> !s.isEmpty()).toList();

        JsonNode found = probe(null);

        assertThat(found.get("images")).hasSize(imageSources(report).size());
        for (JsonNode image : found.get("images")) {
            assertThat(image.get("complete").asBoolean()).as(image.toString()).isTrue();
            assertThat(image.get("width").asInt()).as(image.toString()).isGreaterThan(0);
        }
        List<String> names = new ArrayList<>();
        found.get("names").forEach(name -> names.add(name.get("text").asText()));
        assertThat(names).containsAll(chinese);
        for (JsonNode name : found.get("names")) {
            assertThat(name.get("missing").asText()).as("characters of %s drawn as missing glyphs: install"
                    + " fonts-noto-cjk", name.get("text").asText()).isEmpty();
        }

        // the screenshot docs/reports.md shows (copied to docs/img/report.png by hand)
        Path screenshot = Path.of("target", "report-screenshot.png").toAbsolutePath();
        Files.deleteIfExists(screenshot);
        chromium(html, null, "--window-size=1000,1950", "--screenshot=" + screenshot);
        BufferedImage image = ImageIO.read(screenshot.toFile());
        assertThat(image.getWidth()).isEqualTo(1000);
        assertThat(Files.size(screenshot)).isLessThan(300_000);
    }

    /** The check above can fail: without fonts that have Chinese glyphs, every Chinese character is found missing. */
    @Test
    void withoutAChineseFontTheGlyphCheckFindsEveryCharacterMissing() throws Exception {
        chromium();

        JsonNode found = probe(fontConfigWithoutChinese());

        assertThat(found.get("names")).isNotEmpty();
        for (JsonNode name : found.get("names")) {
            String han = name.get("text").asText().codePoints()
                    .filter(cp -> Character.UnicodeScript.of(cp) == Character.UnicodeScript.HAN)
                    .collect(StringBuilder::new, StringBuilder::appendCodePoint, StringBuilder::append).toString();
            assertThat(name.get("missing").asText()).as(name.get("text").asText()).isEqualTo(han);
        }
    }
}
