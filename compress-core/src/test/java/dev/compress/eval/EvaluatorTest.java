package dev.compress.eval;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.assertj.core.api.Assertions.within;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.compress.CompressException;
import dev.compress.Progress;
import dev.compress.data.ImageDataset;
import dev.compress.data.Preprocessing;
import dev.compress.graph.OnnxModel;
import dev.compress.runtime.OrtModel;
import dev.compress.runtime.RuntimeOptions;
import dev.compress.testing.TestData;
import java.io.IOException;
import java.math.BigDecimal;
import java.math.BigInteger;
import java.math.MathContext;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.stream.Stream;
import org.apache.commons.math3.special.Erf;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Evaluates the shipped Fashion-MNIST models on the shipped held-out PNGs. The slow passes (2000 images) run once
 * in {@link #evaluateHeldout()} and the tests check their reports.
 */
class EvaluatorTest {
    private static final Path CNN = TestData.model("cnn-fp32.onnx");
    private static final Path RESNET = TestData.model("resnet-fp32.onnx");
    private static final Path HELDOUT = TestData.fashionMnist().resolve("heldout");
    private static final Path CALIB = TestData.fashionMnist().resolve("calib");

    private static Preprocessing preprocessing;
    private static JsonNode fixtures;
    /** Each model alone on the held-out set. */
    private static EvalReport cnn;
    private static EvalReport resnet;
    /** The model PyTorch measured as less accurate, against the more accurate one as baseline. */
    private static Path weaker;
    private static Path stronger;
    private static EvalReport paired;

    @BeforeAll
    static void evaluateHeldout() throws IOException {
        fixtures = new ObjectMapper().readTree(TestData.model("fixtures.json").toFile());
        OnnxModel model = OnnxModel.load(CNN);
        long[] inputShape;
        try (OrtModel session = OrtModel.open(CNN, RuntimeOptions.defaults())) {
            inputShape = session.inputShapes().get("input");
        }
        preprocessing = Preprocessing.resolve(CNN, "input", inputShape, model.metadata(),
                Preprocessing.Overrides.NONE);

        cnn = evaluator(CNN, HELDOUT).build().evaluate();
        resnet = evaluator(RESNET, HELDOUT).build().evaluate();
        boolean cnnWeaker = pytorchHeldout("cnn") < pytorchHeldout("resnet");
        weaker = cnnWeaker ? CNN : RESNET;
        stronger = cnnWeaker ? RESNET : CNN;
        paired = evaluator(weaker, HELDOUT).optBaseline(stronger).build().evaluate();
    }

    static Evaluator.Builder evaluator(Path model, Path data) {
        return Evaluator.builder().setModel(model).setData(dataset(data));
    }

    static ImageDataset dataset(Path root) {
        return ImageDataset.builder().setRoot(root).setInputName("input").setPreprocessing(preprocessing).build();
    }

    /** The fp32 top-1 accuracy PyTorch measured on the same 2000 held-out images, as recorded by the generator. */
    private static double pytorchHeldout(String model) {
        JsonNode figure = fixtures.path("models").path(model).path("fp32_top1_heldout2000");
        assertThat(figure.isNumber()).as("fixtures.json models.%s.fp32_top1_heldout2000", model).isTrue();
        return figure.asDouble();
    }

    @Test
    void heldoutAccuracyMatchesPyTorch() {
        assertThat(cnn.top1().fraction()).isGreaterThan(0.85)
                .isCloseTo(pytorchHeldout("cnn"), within(0.001));
        assertThat(resnet.top1().fraction()).isGreaterThan(0.85)
                .isCloseTo(pytorchHeldout("resnet"), within(0.001));
    }

    @Test
    void thePredictionListenerSeesEverySampleInOrderAsTheReportCountsIt() {
        List<int[]> samples = new java.util.ArrayList<>();

        EvalReport report = evaluator(weaker, HELDOUT).optBaseline(stronger)
                .optPredictionListener((label, predicted, baseline) -> samples.add(new int[] {label, predicted,
                    baseline}))
                .build().evaluate();

        assertThat(report).isEqualTo(paired);
        assertThat(samples).hasSize(2000);
        assertThat(samples.stream().filter(s -> s[1] == s[0]).count()).isEqualTo(report.top1().count());
        assertThat(samples.stream().filter(s -> s[2] == s[0]).count()).isEqualTo(report.baseline().top1().count());
        assertThat(samples.stream().filter(s -> s[1] == s[2]).count())
                .isEqualTo(report.baseline().agreement().count());
        assertThat(samples.stream().filter(s -> s[2] == s[0] && s[1] != s[0]).count())
                .isEqualTo(report.baseline().mcnemar().b());
        assertThat(samples.stream().filter(s -> s[1] == s[0] && s[2] != s[0]).count())
                .isEqualTo(report.baseline().mcnemar().c());
        // folders are read sorted, class by class: "Ankle boot" (9) first
        assertThat(samples.get(0)[0]).isEqualTo(9);
    }

    @Test
    void reportCountsAreConsistent() {
        for (EvalReport report : List.of(cnn, resnet)) {
            assertThat(report.samples()).isEqualTo(2000);
            assertThat(report.classes()).hasSize(10).startsWith("T-shirt_top", "Trouser").endsWith("Ankle boot");
            assertThat(report.top5().count()).isBetween(report.top1().count(), report.samples());
            assertThat(report.top1().fraction()).isEqualTo(report.top1().count() / 2000.0);
            assertThat(report.top1().ci95Low()).isLessThan(report.top1().fraction());
            assertThat(report.top1().ci95High()).isGreaterThan(report.top1().fraction());
            assertThat(report.perClass()).extracting(EvalReport.ClassAccuracy::name)
                    .containsExactlyElementsOf(report.classes());
            assertThat(report.perClass()).allSatisfy(c -> {
                assertThat(c.samples()).isEqualTo(200);
                assertThat(c.accuracy()).isEqualTo(c.correct() / 200.0);
            });
            assertThat(report.perClass().stream().mapToLong(EvalReport.ClassAccuracy::correct).sum())
                    .isEqualTo(report.top1().count());
            assertThat(report.baseline()).isNull();
        }
    }

    @Test
    void baselineSectionEqualsTheBaselineEvaluatedAlone() {
        EvalReport alone = stronger.equals(CNN) ? cnn : resnet;
        EvalReport candidate = weaker.equals(CNN) ? cnn : resnet;

        assertThat(paired.model()).isEqualTo(weaker.toString());
        assertThat(paired.top1()).isEqualTo(candidate.top1());
        assertThat(paired.perClass()).isEqualTo(candidate.perClass());
        assertThat(paired.baseline().model()).isEqualTo(stronger.toString());
        assertThat(paired.baseline().top1()).isEqualTo(alone.top1());
        assertThat(paired.baseline().top5()).isEqualTo(alone.top5());
    }

    @Test
    void pairedComparisonOfTwoDifferentModels() {
        EvalReport.Baseline baseline = paired.baseline();
        EvalReport.McNemar test = baseline.mcnemar();
        long b = test.b();
        long c = test.c();

        assertThat(b).isPositive();
        assertThat(c).isPositive();
        // baseline right minus model right counts only the discordant samples
        assertThat(baseline.top1().count() - paired.top1().count()).isEqualTo(b - c);
        assertThat(baseline.dropPoints()).isCloseTo(100.0 * (b - c) / 2000, within(1e-6));
        // discordant samples disagree; samples both get right agree
        long bothRight = paired.top1().count() - c;
        assertThat(baseline.agreement().count()).isBetween(bothRight, 2000 - b - c);
        assertThat(test.pValue()).isCloseTo(directMcNemar(b, c), within(1e-6));
        assertThat(test.method()).isEqualTo(b + c < 25 ? "exact-binomial" : "chi-square-continuity-corrected");
        assertThat(test.significant()).isEqualTo(directMcNemar(b, c) < 0.05);
    }

    /** McNemar's p-value computed here from its definition: exact binomial below 25 pairs, else erfc. */
    private static double directMcNemar(long b, long c) {
        long n = b + c;
        if (n < 25) {
            BigInteger tail = BigInteger.ZERO;
            BigInteger term = BigInteger.ONE;
            for (int k = 0; k <= Math.min(b, c); k++) {
                tail = tail.add(term);
                term = term.multiply(BigInteger.valueOf(n - k)).divide(BigInteger.valueOf(k + 1));
            }
            return Math.min(1, new BigDecimal(tail.shiftLeft(1))
                    .divide(new BigDecimal(BigInteger.ONE.shiftLeft((int) n)), MathContext.DECIMAL64).doubleValue());
        }
        double statistic = Math.pow(Math.max(0, Math.abs(b - c) - 1), 2) / n;
        return Erf.erfc(Math.sqrt(statistic / 2));
    }

    @Test
    void modelAgainstItselfHasNoDropAndFullAgreement() {
        EvalReport self = evaluator(CNN, CALIB).optBaseline(CNN).build().evaluate();

        EvalReport.Baseline baseline = self.baseline();
        assertThat(baseline.dropPoints()).isZero();
        assertThat(baseline.top1()).isEqualTo(self.top1());
        assertThat(baseline.agreement().count()).isEqualTo(self.samples());
        assertThat(baseline.agreement().fraction()).isEqualTo(1.0);
        assertThat(baseline.agreement().ci95High()).isEqualTo(1.0);
        assertThat(baseline.mcnemar().b()).isZero();
        assertThat(baseline.mcnemar().c()).isZero();
        assertThat(baseline.mcnemar().pValue()).isEqualTo(1.0);
        assertThat(baseline.mcnemar().significant()).isFalse();
    }

    @Test
    void sameInputsGiveByteIdenticalJsonFromFileOrInMemoryModel() {
        String fromFiles = evaluator(CNN, CALIB).optBaseline(RESNET).build().evaluate().toJson();
        String inMemory = Evaluator.builder().setModel(OnnxModel.load(CNN)).setData(dataset(CALIB))
                .optBaseline(OnnxModel.load(RESNET)).build().evaluate().toJson();

        assertThat(inMemory).isEqualTo(fromFiles);
    }

    @Test
    void progressSeesEverySampleOnce() {
        List<String> events = new ArrayList<>();
        long[] done = {0};
        Progress recorder = new Progress() {
            @Override
            public void start(String task, long total) {
                events.add("start " + task + " " + total);
            }

            @Override
            public void advance(long steps) {
                done[0] += steps;
            }

            @Override
            public void finish() {
                events.add("finish");
            }
        };

        EvalReport report = evaluator(CNN, CALIB).optBatchSize(64).optProgress(recorder).build().evaluate();

        assertThat(events).containsExactly("start evaluate 500", "finish");
        assertThat(done[0]).isEqualTo(500).isEqualTo(report.samples());
    }

    @Test
    void outputWithOtherClassCountIsRejectedNamingTheModel(@TempDir Path dir) throws IOException {
        // three real class folders and a labels file listing those three: the 10-class model does not fit
        Path data = dir.resolve("three");
        List<String> classes = List.of("T-shirt_top", "Trouser", "Pullover");
        for (String name : classes) {
            copyImages(HELDOUT.resolve(name), data.resolve(name), 4);
        }
        Files.write(dir.resolve("labels.txt"), classes, StandardCharsets.UTF_8);

        assertThatThrownBy(() -> evaluator(CNN, data).build().evaluate())
                .isInstanceOf(CompressException.class)
                .hasMessage(CNN + ": output 'logits' has 10 classes, the data (" + data + ") has 3")
                .extracting(e -> ((CompressException) e).kind()).isEqualTo(CompressException.Kind.BAD_INPUT);
    }

    @Test
    void unlabeledDataIsRejectedNamingTheFolder(@TempDir Path dir) throws IOException {
        Path data = dir.resolve("unlabeled");
        copyImages(HELDOUT.resolve("Bag"), data, 5);

        assertThatThrownBy(() -> evaluator(CNN, data).build().evaluate())
                .isInstanceOf(CompressException.class)
                .hasMessageStartingWith(data + ": has no labels");
    }

    @Test
    void unknownOutputNameIsRejectedListingTheOutputs() {
        assertThatThrownBy(() -> evaluator(CNN, CALIB).optOutputName("probabilities").build().evaluate())
                .isInstanceOf(CompressException.class)
                .hasMessage(CNN + ": has no output 'probabilities' (outputs: logits)");
    }

    @Test
    void builderRequiresModelAndData() {
        assertThatThrownBy(() -> Evaluator.builder().setModel(CNN).build())
                .isInstanceOf(IllegalStateException.class);
        assertThatThrownBy(() -> Evaluator.builder().optBatchSize(0))
                .isInstanceOf(CompressException.class)
                .hasMessageContaining("batch size");
    }

    @Test
    void gateCheckPassesAtTheDropAndFailsJustBelowIt() {
        double drop = paired.baseline().dropPoints();
        assertThat(drop).isPositive();

        GateResult pass = Gate.check(paired, drop);
        // one sample of 2000 is 0.05 points
        GateResult fail = Gate.check(paired, drop - 0.05);

        assertThat(pass.passed()).isTrue();
        assertThat(pass.dropPoints()).isEqualTo(drop);
        assertThat(pass.message()).startsWith("PASS: top-1 drop " + ReportJson.plain(drop) + " points")
                .contains("McNemar b=" + paired.baseline().mcnemar().b());
        assertThat(fail.passed()).isFalse();
        assertThat(fail.maxDropPoints()).isEqualTo(drop - 0.05);
        assertThat(fail.message()).startsWith("FAIL: ");
    }

    @Test
    void gateCheckNeedsABaseline() {
        assertThatThrownBy(() -> Gate.check(cnn, 1.0))
                .isInstanceOf(CompressException.class)
                .hasMessageContaining("needs a baseline");
        assertThatThrownBy(() -> Gate.check(paired, -1))
                .isInstanceOf(CompressException.class)
                .hasMessageContaining(">= 0");
    }

    @Test
    void gateCompareOfSeparateReportsMatchesThePairedDrop(@TempDir Path dir) {
        EvalReport strongAlone = stronger.equals(CNN) ? cnn : resnet;
        EvalReport weakAlone = weaker.equals(CNN) ? cnn : resnet;
        strongAlone.writeJson(dir.resolve("base.json"));
        weakAlone.writeJson(dir.resolve("cand.json"));
        double drop = paired.baseline().dropPoints();

        GateResult unpaired = Gate.compare(EvalReport.readJson(dir.resolve("base.json")),
                EvalReport.readJson(dir.resolve("cand.json")), drop);
        GateResult withPairing = Gate.compare(strongAlone, paired, drop - 0.05);

        assertThat(unpaired.passed()).isTrue();
        assertThat(unpaired.dropPoints()).isEqualTo(drop);
        assertThat(unpaired.message()).contains("McNemar not available");
        assertThat(withPairing.passed()).isFalse();
        assertThat(withPairing.message()).contains(paired.baseline().mcnemar().describe());
    }

    @Test
    void gateCompareRejectsReportsOnDifferentData(@TempDir Path dir) throws IOException {
        EvalReport calib = evaluator(CNN, CALIB).build().evaluate();
        // the same 20 images under English and under Chinese class names: same count, different classes
        List<String> english = Files.readAllLines(TestData.fashionMnist().resolve("labels.txt"));
        List<String> chinese = Files.readAllLines(TestData.fashionMnist().resolve("labels-zh.txt"));
        EvalReport inEnglish = evaluateSubset(dir.resolve("en"), english, english);
        EvalReport inChinese = evaluateSubset(dir.resolve("zh"), english, chinese);

        assertThat(inChinese.samples()).isEqualTo(inEnglish.samples()).isEqualTo(20);
        assertThat(inChinese.classes()).containsExactlyElementsOf(chinese);
        assertThatThrownBy(() -> Gate.compare(cnn, calib, 1.0))
                .isInstanceOf(CompressException.class)
                .hasMessageContaining("2000 samples").hasMessageContaining("500 samples");
        assertThatThrownBy(() -> Gate.compare(inEnglish, inChinese, 1.0))
                .isInstanceOf(CompressException.class)
                .hasMessageContaining("named or ordered differently");
    }

    /** Two held-out images per class, copied into class folders named {@code names}, evaluated with the cnn. */
    private static EvalReport evaluateSubset(Path dir, List<String> sourceFolders, List<String> names)
            throws IOException {
        Path data = dir.resolve("data");
        for (int i = 0; i < names.size(); i++) {
            copyImages(HELDOUT.resolve(sourceFolders.get(i)), data.resolve(names.get(i)), 2);
        }
        Path labels = Files.write(dir.resolve("labels.txt"), names, StandardCharsets.UTF_8);
        ImageDataset dataset = ImageDataset.builder().setRoot(data).setInputName("input")
                .setPreprocessing(preprocessing).optLabelsFile(labels).build();
        return Evaluator.builder().setModel(CNN).setData(dataset).build().evaluate();
    }

    @Test
    void summaryNamesTheFigures() {
        String summary = paired.summary();

        assertThat(summary.lines()).hasSize(5);
        assertThat(summary).contains(weaker + " on " + HELDOUT + " (2000 samples, 10 classes)")
                .contains(String.format(java.util.Locale.ROOT, "top-1 %.2f%%", 100 * paired.top1().fraction()))
                .contains("baseline " + stronger)
                .contains("top-1 drop " + ReportJson.plain(paired.baseline().dropPoints()) + " points")
                .contains("McNemar b=");
        assertThat(cnn.summary().lines()).hasSize(2);
    }

    @Test
    void jsonHasFixedFieldOrderAndSixDecimals() throws IOException {
        String json = paired.withPreprocessing(preprocessing.toMap()).toJson();
        JsonNode tree = new ObjectMapper().readTree(json);

        assertThat(fields(tree)).containsExactly(
                "model", "data", "samples", "classes", "top1", "top5", "perClass", "baseline", "preprocessing");
        assertThat(fields(tree.get("top1"))).containsExactly("count", "fraction", "ci95Low", "ci95High");
        assertThat(fields(tree.get("perClass").get(0))).containsExactly("name", "samples", "correct", "accuracy");
        assertThat(fields(tree.get("baseline")))
                .containsExactly("model", "top1", "top5", "dropPoints", "agreement", "mcnemar");
        assertThat(fields(tree.get("baseline").get("mcnemar")))
                .containsExactly("b", "c", "method", "pValue", "significant");
        assertThat(fields(tree.get("preprocessing"))).isSorted().isNotEmpty();
        assertThat(json).contains("\"fraction\" : " + new BigDecimal(paired.top1().count())
                        .divide(BigDecimal.valueOf(2000)).setScale(6).toPlainString() + ",")
                .doesNotContain("\r").doesNotContain("E-").endsWith("}\n");
    }

    @Test
    void jsonRoundTripsThroughAFile(@TempDir Path dir) throws IOException {
        EvalReport report = paired.withPreprocessing(preprocessing.toMap());
        Path file = dir.resolve("report.json");

        report.writeJson(file);
        EvalReport read = EvalReport.readJson(file);

        assertThat(read).isEqualTo(report);
        assertThat(read.toJson()).isEqualTo(report.toJson());
        assertThat(Files.readString(file, StandardCharsets.UTF_8)).isEqualTo(report.toJson());
        try (Stream<Path> files = Files.list(dir)) {
            assertThat(files).containsExactly(file);
        }
    }

    @Test
    void writingIntoAMissingFolderFailsAndLeavesNoFile(@TempDir Path dir) throws IOException {
        Path file = dir.resolve("missing").resolve("report.json");

        assertThatThrownBy(() -> cnn.writeJson(file))
                .isInstanceOf(CompressException.class)
                .hasMessage(file + ": output folder does not exist");
        assertThat(dir.resolve("missing")).doesNotExist();
        try (Stream<Path> files = Files.list(dir)) {
            assertThat(files).isEmpty();
        }
    }

    @Test
    void readingAMissingOrForeignFileNamesIt(@TempDir Path dir) throws IOException {
        Path missing = dir.resolve("nope.json");
        Path foreign = TestData.model("fixtures.json");
        Path truncated = dir.resolve("truncated.json");
        String json = cnn.toJson();
        Files.writeString(truncated, json.substring(0, json.length() / 2), StandardCharsets.UTF_8);

        assertThatThrownBy(() -> EvalReport.readJson(missing))
                .isInstanceOf(CompressException.class).hasMessage(missing + ": no such file");
        assertThatThrownBy(() -> EvalReport.readJson(foreign))
                .isInstanceOf(CompressException.class).hasMessageStartingWith(foreign + ": not an evaluation report");
        assertThatThrownBy(() -> EvalReport.readJson(truncated))
                .isInstanceOf(CompressException.class)
                .hasMessageStartingWith(truncated + ": not an evaluation report");
    }

    private static List<String> fields(JsonNode node) {
        List<String> names = new ArrayList<>();
        node.fieldNames().forEachRemaining(names::add);
        return names;
    }

    private static void copyImages(Path from, Path to, int count) throws IOException {
        Files.createDirectories(to);
        try (Stream<Path> images = Files.list(from)) {
            for (Path image : images.sorted().limit(count).toList()) {
                Files.copy(image, to.resolve(image.getFileName()));
            }
        }
    }
}
