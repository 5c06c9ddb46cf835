package dev.compress.export;

import com.fasterxml.jackson.core.JsonProcessingException;
import dev.compress.CompressException;
import dev.compress.Json;
import dev.compress.Version;
import dev.compress.data.DataFiles;
import dev.compress.data.ModelInputs;
import dev.compress.data.Preprocessing;
import dev.compress.eval.EvalReport;
import dev.compress.graph.OnnxModel;
import dev.compress.graph.ValueInfo;
import dev.compress.runtime.OrtFormat;
import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.SortedMap;
import java.util.TreeMap;

/**
 * Builds the edge bundle of a model: the model with its labels and preprocessing in {@code metadata_props}, an
 * ORT-format copy and the operator list of a reduced ONNX Runtime build, labels, a manifest with the SHA-256 of every
 * other file, a model card and a self-contained prediction example. Same inputs, same bytes: no paths (file names
 * only), times or measurements of this machine go in.
 *
 * <pre>{@code
 * Bundle bundle = BundleExporter.builder()
 *         .setModel(OnnxModel.load(Path.of("resnet-int8.onnx")))
 *         .optLabels(Path.of("labels.txt"))
 *         .optEvaluation(report)
 *         .build()
 *         .export();
 * bundle.write(Path.of("bundle.zip"));
 * }</pre>
 */
public final class BundleExporter {
    /** The manifest's format; raised when a reader of an older one would misread it. */
    public static final int FORMAT_VERSION = 1;
    /** Model metadata key holding the class names as a JSON array (the names of {@code labels.txt}). */
    public static final String LABELS_KEY = "compress.labels";
    /** Model metadata key holding the Chinese class names as a JSON array. */
    public static final String LABELS_ZH_KEY = "compress.labels.zh";

    private final OnnxModel source;
    private final Path labels;
    private final Path labelsZh;
    private final List<String> labelNames;
    private final Path fallback;
    private final int latencyThreads;
    private final Map<String, Object> provenance;
    private final EvalReport evaluation;
    private final Preprocessing.Overrides overrides;

    private BundleExporter(Builder b) {
        this.source = b.model;
        this.labels = b.labels;
        this.labelsZh = b.labelsZh;
        this.labelNames = b.labelNames;
        this.fallback = b.fallback;
        this.latencyThreads = b.latencyThreads;
        this.provenance = b.provenance;
        this.evaluation = b.evaluation == null ? null : withFileNames(b.evaluation);
        this.overrides = b.overrides;
    }

    public static Builder builder() {
        return new Builder();
    }

    /**
     * Builds the bundle in memory.
     *
     * @throws CompressException BAD_INPUT naming the model when it is no image classifier, ONNX Runtime cannot convert
     *     it, or the labels do not fit its classes
     */
    public Bundle export() {
        Path file = source.source().orElse(null);
        Preprocessing preprocessing = ModelInputs.imagePreprocessing(described(), overrides);
        ValueInfo input = ModelInputs.imageInput(source);
        int classes = classes(source);
        List<String> names = labels(labels, LABELS_KEY, classes);
        List<String> namesZh = labels(labelsZh, LABELS_ZH_KEY, classes);

        OnnxModel model = source.copy();
        Map<String, String> metadata = model.metadata();
        metadata.put(Preprocessing.METADATA_KEY, preprocessing.toJson());
        // what Ultralytics exports write and tools that read only the ONNX file look for
        metadata.put("imgsz", "[" + preprocessing.outputSize().height() + ", " + preprocessing.outputSize().width()
                + "]");
        if (names != null) {
            metadata.put("names", pythonDict(names));
            metadata.put(LABELS_KEY, Json.compact(names));
        }
        if (namesZh != null) {
            metadata.put(LABELS_ZH_KEY, Json.compact(namesZh));
        }
        byte[] onnx = model.toBytes();
        OrtFormat.Converted converted = OrtFormat.convert(model);

        SortedMap<String, byte[]> files = new TreeMap<>();
        files.put(Bundle.MODEL, onnx);
        files.put(Bundle.ORT_MODEL, converted.ort());
        files.put(Bundle.REQUIRED_OPERATORS, utf8(RequiredOperators.config(converted.optimized())));
        if (names != null) {
            files.put(Bundle.LABELS, utf8(String.join("\n", names) + "\n"));
        }
        if (namesZh != null) {
            files.put(Bundle.LABELS_ZH, utf8(String.join("\n", namesZh) + "\n"));
        }
        files.put(Bundle.PREDICT, resource("Predict.java"));
        if (fallback != null) {
            files.put(Bundle.SOURCE_MODEL, fallback(input, classes));
        }

        Map<String, Object> manifest = new LinkedHashMap<>();
        manifest.put("formatVersion", FORMAT_VERSION);
        manifest.put("tool", Map.of("name", "compress", "version", Version.get()));
        manifest.put("model", modelEntry(model, classes));
        Map<String, Object> preprocess = new LinkedHashMap<>();
        preprocess.put("input", input.name());
        preprocess.putAll(preprocessing.toMap());
        preprocess.put("resizeFilter", "area-averaging (java.awt.Image.SCALE_SMOOTH), only when the size differs");
        preprocess.put("colorConversion",
                preprocessing.channels() == 1 ? "PIL convert(\"L\")" : "PIL convert(\"RGB\")");
        manifest.put("preprocessing", preprocess);
        if (names != null) {
            manifest.put("labels", labelsEntry(Bundle.LABELS, names));
        }
        if (namesZh != null) {
            manifest.put("labelsZh", labelsEntry(Bundle.LABELS_ZH, namesZh));
        }
        Map<String, Object> made = provenance(source, file);
        made.putAll(provenance);
        manifest.put("provenance", made);
        if (fallback != null) {
            Map<String, Object> variant = new LinkedHashMap<>();
            variant.put("file", Bundle.SOURCE_MODEL);
            variant.put("role", "fallback");
            variant.put("description", "the source model this one was made from, unchanged (" + fallback.getFileName()
                    + "): for a runtime without its integer kernels, or where accuracy matters more than size; same"
                    + " inputs, outputs, labels and preprocessing");
            manifest.put("variants", List.of(variant));
        }
        if (evaluation != null) {
            manifest.put("metrics", metrics(evaluation));
        }
        byte[] card = utf8(ModelCard.text(model, file, preprocessing, names, evaluation, onnx.length,
                converted.ort().length));
        files.put(Bundle.MODEL_CARD, card);
        Map<String, Object> hashes = new TreeMap<>();
        files.forEach((name, content) -> hashes.put(name, Map.of("bytes", content.length, "sha256", sha256(content))));
        manifest.put("files", hashes);
        if (latencyThreads > 0) {
            // declared here, measured below: the manifest and every hashed file stay the same bytes
            manifest.put("measurements", Map.of("file", Bundle.MEASUREMENTS, "hashed", false, "note",
                    "host-measured when the bundle was written, not on the device; differs from run to run, so it is"
                            + " left out of \"files\" and the zip is not byte-identical across runs"));
        }
        manifest.put(ManifestSeal.KEY, ManifestSeal.PLACEHOLDER);
        files.put(Bundle.MANIFEST, utf8(ManifestSeal.seal(Json.pretty(manifest))));
        if (latencyThreads > 0) {
            files.put(Bundle.MEASUREMENTS, utf8(measurements(onnx, latencyThreads)));
        }
        return new Bundle(files);
    }

    /**
     * The source with the evaluation's preprocessing as its {@value Preprocessing#METADATA_KEY} metadata when it
     * records none and no settings are given: what the figures were measured with, which a model with a dynamic
     * image size cannot say (quantize with --image-size keeps the flags in its report, not in the model).
     */
    private OnnxModel described() {
        if (!overrides.isEmpty() || evaluation == null || evaluation.preprocessing() == null
                || source.metadata().containsKey(Preprocessing.METADATA_KEY)) {
            return source;
        }
        OnnxModel described = source.copy();
        described.metadata().put(Preprocessing.METADATA_KEY, Json.compact(evaluation.preprocessing()));
        return described;
    }

    /** The source file's bytes, after checking it takes the model's input and gives its classes. */
    private byte[] fallback(ValueInfo input, int classes) {
        OnnxModel model = OnnxModel.load(fallback);
        if (!ModelInputs.imageInput(model).name().equals(input.name()) || classes(model) != classes) {
            throw CompressException.badInput(fallback, "is no fallback for the model: it takes input '"
                    + ModelInputs.imageInput(model).name() + "' and gives " + classes(model) + " classes, the model '"
                    + input.name() + "' and " + classes);
        }
        return sourceBytes(model, fallback);
    }

    /** Latency and peak memory of a child process on this host, with the thread count and what the host is. */
    private static String measurements(byte[] onnx, int threads) {
        BudgetCheck.Probe probe = BudgetCheck.measure(onnx, threads);
        Map<String, Object> host = new LinkedHashMap<>();
        host.put("os", System.getProperty("os.name") + " " + System.getProperty("os.arch"));
        host.put("processors", Runtime.getRuntime().availableProcessors());
        host.put("java", System.getProperty("java.version"));
        host.put("onnxruntime", ai.onnxruntime.OrtEnvironment.class.getPackage().getImplementationVersion());
        Map<String, Object> latency = new LinkedHashMap<>();
        latency.put("medianMs", Math.round(probe.medianMillis() * 1000) / 1000.0);
        latency.put("threads", threads);
        latency.put("batch", 1);
        latency.put("runs", BudgetCheck.RUNS);
        Map<String, Object> measured = new LinkedHashMap<>();
        measured.put("model", Bundle.MODEL);
        measured.put("hostMeasured", true);
        measured.put("latency", latency);
        measured.put("peakRssBytes", probe.peakRssBytes());
        measured.put("how", "a child JVM opens an ONNX Runtime session on " + Bundle.MODEL + " and runs it "
                + BudgetCheck.RUNS + " times on a zero input; peak RSS (JVM included) read from /proc");
        measured.put("host", host);
        return Json.pretty(measured);
    }

    /**
     * The class count: the last dimension of the model's first output, which must be class scores {@code [N, C]}
     * with C fixed. Rank 2 only: openWakeWord's speech embedding model (input {@code [N, 76, 32, 1]}, output
     * {@code [N, 1, 1, 96]}) passed as a 96-class grayscale image classifier before.
     */
    static int classes(OnnxModel model) {
        List<ValueInfo> outputs = model.graph().outputs();
        Optional<List<ValueInfo.Dim>> shape = outputs.isEmpty() ? Optional.empty() : outputs.get(0).shape();
        if (shape.isEmpty() || shape.get().isEmpty() || !shape.get().get(shape.get().size() - 1).isKnown()) {
            throw CompressException.badInput(model.source().orElse(null), "the first output has no fixed class"
                    + " dimension (last axis); export supports image classifiers");
        }
        if (shape.get().size() != 2) {
            throw CompressException.badInput(model.source().orElse(null), "the first output ("
                    + outputs.get(0).describe() + ") is not class scores [N, C]; export supports image classifiers");
        }
        return (int) shape.get().get(1).value();
    }

    /**
     * Names from {@code file}, else (for {@code labels.txt}) those given, else from the model's metadata {@code key},
     * else null; one per class.
     */
    private List<String> labels(Path file, String key, int classes) {
        Path named = file != null ? file : source.source().orElse(null);
        List<String> names;
        if (file != null) {
            names = DataFiles.readLabels(file);
        } else if (key.equals(LABELS_KEY) && labelNames != null) {
            names = labelNames;
        } else if (source.metadata().containsKey(key)) {
            try {
                names = List.of(Json.MAPPER.readValue(source.metadata().get(key), String[].class));
            } catch (JsonProcessingException e) {
                throw CompressException.badInput(named, "metadata " + key + " is not a JSON array of names", e);
            }
        } else {
            return null;
        }
        if (names.size() != classes) {
            throw CompressException.badInput(named, (file != null ? "" : "metadata " + key + ": ") + names.size()
                    + " class names, but the model outputs " + classes + " classes");
        }
        return names;
    }

    /** {@code {0: 'a', 1: 'b'}}: Python's dict literal, as Ultralytics writes {@code names}. */
    static String pythonDict(List<String> names) {
        StringBuilder text = new StringBuilder("{");
        for (int i = 0; i < names.size(); i++) {
            text.append(i == 0 ? "" : ", ").append(i).append(": '")
                    .append(names.get(i).replace("\\", "\\\\").replace("'", "\\'")).append('\'');
        }
        return text.append('}').toString();
    }

    private static Map<String, Object> modelEntry(OnnxModel model, int classes) {
        Map<String, Object> entry = new LinkedHashMap<>();
        entry.put("file", Bundle.MODEL);
        entry.put("ortFile", Bundle.ORT_MODEL);
        entry.put("ortOptimization", "basic");
        entry.put("irVersion", model.irVersion());
        Map<String, Long> opsets = new TreeMap<>();
        model.opsets().forEach((domain, version) -> opsets.put(domain.isEmpty() ? "ai.onnx" : domain, version));
        entry.put("opsets", opsets);
        entry.put("inputs", model.graph().inputs().stream().map(BundleExporter::tensor).toList());
        entry.put("outputs", model.graph().outputs().stream().map(BundleExporter::tensor).toList());
        entry.put("classes", classes);
        return entry;
    }

    private static Map<String, Object> tensor(ValueInfo value) {
        Map<String, Object> tensor = new LinkedHashMap<>();
        tensor.put("name", value.name());
        tensor.put("dtype", value.isTensor() ? value.elementType().name().toLowerCase(java.util.Locale.ROOT) : null);
        List<Object> dims = new ArrayList<>();
        value.shape().orElse(List.of()).forEach(d -> dims.add(d.isKnown() ? (Object) d.value() : d.toString()));
        tensor.put("shape", dims);
        return tensor;
    }

    private static Map<String, Object> labelsEntry(String file, List<String> names) {
        Map<String, Object> entry = new LinkedHashMap<>();
        entry.put("file", file);
        entry.put("count", names.size());
        entry.put("names", names);
        return entry;
    }

    /** The source file's name and hash, and every {@code compress.*} record the passes left in the model. */
    private static Map<String, Object> provenance(OnnxModel model, Path file) {
        Map<String, Object> provenance = new LinkedHashMap<>();
        Map<String, Object> sourceModel = new LinkedHashMap<>();
        sourceModel.put("file", file == null ? model.graph().name() : file.getFileName().toString());
        sourceModel.put("sha256", sha256(sourceBytes(model, file)));
        sourceModel.put("producer", (model.producerName() + " " + model.producerVersion()).strip());
        provenance.put("sourceModel", sourceModel);
        new TreeMap<>(model.metadata()).forEach((key, value) -> {
            if (key.startsWith("compress.") && !key.equals(Preprocessing.METADATA_KEY) && !key.startsWith(LABELS_KEY)) {
                provenance.put(key, parsed(value));
            }
        });
        return provenance;
    }

    /** The source file as on disk (what {@code sha256sum} hashes), or the serialized model when built in memory. */
    private static byte[] sourceBytes(OnnxModel model, Path file) {
        if (file == null) {
            return model.toBytes();
        }
        try {
            return Files.readAllBytes(file);
        } catch (IOException e) {
            throw CompressException.badInput(file, "cannot read (" + e.getMessage() + ")", e);
        }
    }

    private static Object parsed(String value) {
        try {
            return Json.MAPPER.readTree(value);
        } catch (JsonProcessingException e) {
            return value;
        }
    }

    private static Map<String, Object> metrics(EvalReport report) {
        Map<String, Object> metrics = new LinkedHashMap<>();
        metrics.put("evaluatedModel", report.model());
        metrics.put("data", report.data());
        metrics.put("samples", report.samples());
        metrics.put("top1", report.top1());
        metrics.put("top5", report.top5());
        if (report.baseline() != null) {
            metrics.put("baseline", report.baseline());
        }
        return metrics;
    }

    /** The report with its models by file name: it may hold paths of the machine it was made on. */
    private static EvalReport withFileNames(EvalReport report) {
        EvalReport.Baseline b = report.baseline();
        return new EvalReport(fileName(report.model()), report.data(), report.samples(), report.classes(),
                report.top1(), report.top5(), report.perClass(), b == null ? null : new EvalReport.Baseline(
                        fileName(b.model()), b.top1(), b.top5(), b.dropPoints(), b.agreement(), b.mcnemar()),
                report.preprocessing());
    }

    private static String fileName(String path) {
        return path == null ? null : path.substring(Math.max(path.lastIndexOf('/'), path.lastIndexOf('\\')) + 1);
    }

    static String sha256(byte[] content) {
        try {
            return HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256").digest(content));
        } catch (NoSuchAlgorithmException e) {
            throw CompressException.internal("SHA-256 is not available", e);
        }
    }

    private static byte[] utf8(String text) {
        return text.getBytes(StandardCharsets.UTF_8);
    }

    private static byte[] resource(String name) {
        try (InputStream in = BundleExporter.class.getResourceAsStream(name)) {
            if (in == null) {
                throw CompressException.internal("resource " + name + " missing from the build", null);
            }
            return in.readAllBytes();
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /** Builds a {@link BundleExporter}; {@code set*} required, {@code opt*} optional. */
    public static final class Builder {
        private OnnxModel model;
        private Path labels;
        private Path labelsZh;
        private List<String> labelNames;
        private Path fallback;
        private int latencyThreads;
        private Map<String, Object> provenance = Map.of();
        private EvalReport evaluation;
        private Preprocessing.Overrides overrides = Preprocessing.Overrides.NONE;

        private Builder() {}

        public Builder setModel(OnnxModel model) {
            this.model = model;
            return this;
        }

        /**
         * A labels file (UTF-8, one class name per line, in output order). Default: the model's {@value #LABELS_KEY}
         * metadata, else none.
         */
        public Builder optLabels(Path labels) {
            this.labels = labels;
            return this;
        }

        /** Class names in output order, when there is no labels file (e.g. an evaluation's classes). */
        public Builder optLabels(List<String> names) {
            this.labelNames = names == null ? null : List.copyOf(names);
            return this;
        }

        /**
         * More of how the model was made, added to the manifest's {@code provenance} by key: a recipe's source
         * model, passes with their settings and data summaries.
         */
        public Builder optProvenance(Map<String, Object> entries) {
            this.provenance = new TreeMap<>(entries);
            return this;
        }

        /**
         * The model's source (e.g. the fp32 model it was quantized from) as {@code source.onnx}, a fallback listed in
         * the manifest's {@code variants}; it must take the same input and give the same classes.
         */
        public Builder optSource(Path source) {
            this.fallback = source;
            return this;
        }

        /**
         * Measure latency (and peak memory) on this host with {@code threads} intra-op threads into
         * {@code measurements.json}, which the manifest declares but does not hash: the zip then differs from run to
         * run. 0 (the default): no measurement.
         */
        public Builder optMeasureLatency(int threads) {
            this.latencyThreads = threads;
            return this;
        }

        /** Chinese class names, likewise. Default: the model's {@value #LABELS_ZH_KEY} metadata, else none. */
        public Builder optLabelsZh(Path labelsZh) {
            this.labelsZh = labelsZh;
            return this;
        }

        /** The evaluation of this model whose figures the manifest and the model card carry. */
        public Builder optEvaluation(EvalReport evaluation) {
            this.evaluation = evaluation;
            return this;
        }

        /** Preprocessing settings over the model's own (its input shape and metadata). */
        public Builder optPreprocessing(Preprocessing.Overrides overrides) {
            this.overrides = overrides == null ? Preprocessing.Overrides.NONE : overrides;
            return this;
        }

        public BundleExporter build() {
            if (model == null) {
                throw new IllegalStateException("setModel is required");
            }
            if (latencyThreads < 0) {
                throw CompressException.invalidSettings("latency threads must be at least 1, got " + latencyThreads);
            }
            return new BundleExporter(this);
        }
    }
}
