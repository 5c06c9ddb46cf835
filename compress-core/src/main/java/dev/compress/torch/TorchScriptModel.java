package dev.compress.torch;

import ai.djl.Device;
import ai.djl.MalformedModelException;
import ai.djl.Model;
import ai.djl.engine.Engine;
import ai.djl.engine.EngineException;
import ai.djl.inference.Predictor;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import ai.djl.nn.Parameter;
import ai.djl.translate.TranslateException;
import ai.djl.translate.Translator;
import ai.djl.translate.TranslatorContext;
import ai.djl.util.Pair;
import ai.djl.pytorch.engine.PtSymbolBlock;
import ai.djl.pytorch.jni.JniUtils;
import dev.compress.CompressException;
import dev.compress.StagedFile;
import dev.compress.data.Batch;
import dev.compress.data.HostTensor;
import dev.compress.runtime.OrtModel.FloatOutput;
import java.io.IOException;
import java.io.OutputStream;
import java.nio.FloatBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * A TorchScript checkpoint ({@code torch.jit.trace}/{@code torch.jit.script} then {@code torch.jit.save}) run on the
 * CPU through DJL's PyTorch engine. Close it to free native memory.
 *
 * <p>libtorch comes from the Maven artifacts {@value #NATIVE_ARTIFACT} and {@value #JNI_ARTIFACT}; nothing is ever
 * downloaded. The JVM must run with {@code DJL_OFFLINE=true} and {@code OPT_OUT_TRACKING=true} (the launcher, tests
 * and benchmarks set them) so that DJL neither fetches natives nor sends usage telemetry.
 */
public final class TorchScriptModel implements AutoCloseable {
    /** The Maven artifact holding libtorch itself (kept equal to the pom by a test). */
    public static final String NATIVE_ARTIFACT = "ai.djl.pytorch:pytorch-native-cpu:2.7.1:linux-x86_64";

    /** The Maven artifact holding DJL's JNI bridge to libtorch; its version suffix must equal the DJL version. */
    public static final String JNI_ARTIFACT = "ai.djl.pytorch:pytorch-jni:2.7.1-0.35.1";

    private static final String ENGINE = "PyTorch";

    private final Path file;
    private final Model model;
    private final Predictor<NDList, List<FloatOutput>> predictor;

    private TorchScriptModel(Path file, Model model) {
        this.file = file;
        this.model = model;
        this.predictor = model.newPredictor(new ToFloats());
    }

    /** Whether {@code file}'s name marks TorchScript: {@code .pt}, {@code .pth} or {@code .ts} (any case). */
    public static boolean isTorchScriptName(Path file) {
        String name = file.getFileName().toString().toLowerCase(java.util.Locale.ROOT);
        return name.endsWith(".pt") || name.endsWith(".pth") || name.endsWith(".ts");
    }

    /**
     * Loads a TorchScript checkpoint on the CPU.
     *
     * @throws CompressException BAD_INPUT naming the file if it is missing or not TorchScript; INTERNAL naming the
     *     Maven artifact to add if libtorch or its JNI bridge is not on the class path
     */
    public static TorchScriptModel load(Path file) {
        return load(file, Map.of());
    }

    /**
     * Loads a TorchScript checkpoint whose parameters {@link #setParameter} may change: libtorch loads tensors
     * for inference only otherwise, and refuses to update those in place.
     *
     * @throws CompressException as {@link #load(Path)}
     */
    public static TorchScriptModel loadEditable(Path file) {
        return load(file, Map.of("trainParam", "true"));
    }

    private static TorchScriptModel load(Path file, Map<String, ?> options) {
        if (!Files.isRegularFile(file)) {
            throw CompressException.badInput(file, Files.exists(file) ? "not a regular file" : "no such file");
        }
        Engine engine = engine();
        Model model = engine.newModel(fileName(file), Device.cpu());
        try {
            // the parent folder plus the file name as prefix: DJL then loads exactly this file
            model.load(file.toAbsolutePath().getParent(), fileName(file), options);
            return new TorchScriptModel(file, model);
        } catch (IOException | MalformedModelException | RuntimeException e) {
            model.close();
            throw CompressException.badInput(file, "not a TorchScript checkpoint (" + firstLine(e) + "); save one with"
                    + " torch.jit.save(torch.jit.trace(model, example)) - a torch.save state_dict cannot be run", e);
        }
    }

    /** DJL's PyTorch engine, started offline; errors name the missing artifact. */
    static Engine engine() {
        // belt and braces beside DJL_OFFLINE / OPT_OUT_TRACKING in the environment: a library user who forgot them
        // still gets neither a native download nor usage telemetry (DJL reads both as system properties too)
        System.setProperty("ai.djl.offline", "true");
        System.setProperty("OPT_OUT_TRACKING", "true");
        try {
            return Engine.getEngine(ENGINE);
        } catch (EngineException | IllegalArgumentException | UnsatisfiedLinkError e) {
            throw missingNative(e);
        }
    }

    private static CompressException missingNative(Throwable e) {
        String message = String.valueOf(e.getMessage());
        String platform = System.getProperty("os.name") + "/" + System.getProperty("os.arch");
        String artifact;
        if (message.contains("jni")) {
            artifact = JNI_ARTIFACT;
        } else if (message.contains("engine not found") || message.contains("not found")) {
            artifact = "ai.djl.pytorch:pytorch-engine:0.35.1";
        } else {
            artifact = NATIVE_ARTIFACT;
        }
        return CompressException.internal("cannot start DJL's PyTorch engine offline on " + platform + ": add the Maven"
                + " artifact " + artifact + " to the class path (" + firstLine(e) + ")", e);
    }

    private static String fileName(Path file) {
        String name = file.getFileName().toString();
        return name.endsWith(".pt") ? name.substring(0, name.length() - 3) : name;
    }

    private static String firstLine(Throwable e) {
        Throwable root = e;
        while (root.getCause() != null && root.getMessage() == null) {
            root = root.getCause();
        }
        String message = String.valueOf(root.getMessage()).strip();
        int newline = message.indexOf('\n');
        return newline < 0 ? message : message.substring(0, newline);
    }

    /** The checkpoint file. */
    public Path file() {
        return file;
    }

    /**
     * Runs one batch: the batch's inputs are passed positionally in their order (TorchScript has no input names) and
     * every output of {@code forward} (a tensor or a tuple of tensors) comes back as floats, in order.
     *
     * @throws CompressException BAD_INPUT naming the checkpoint and the batch's first file when libtorch rejects it
     */
    public List<FloatOutput> run(Batch batch) {
        try (NDManager manager = model.getNDManager().newSubManager()) {
            NDList inputs = new NDList();
            for (HostTensor tensor : batch.inputs().values()) {
                Shape shape = new Shape(tensor.shape());
                inputs.add(switch (tensor.type()) {
                    case FLOAT -> manager.create(tensor.floats(), shape);
                    case INT64 -> manager.create(tensor.longs(), shape);
                });
            }
            return predictor.predict(inputs);
        } catch (TranslateException | EngineException e) {
            Path first = batch.sources().isEmpty() ? null : batch.sources().get(0);
            throw CompressException.badInput(first, "libtorch failed on the batch starting here with " + file + " ("
                    + firstLine(e) + ")", e);
        }
    }

    /**
     * The checkpoint's named parameters (e.g. {@code stem.0.weight}) in module order, copied out of native memory.
     * Buffers such as BatchNorm running statistics are not parameters and are not listed.
     */
    public Map<String, NamedParameter> parameters() {
        Map<String, NamedParameter> parameters = new LinkedHashMap<>();
        for (Pair<String, Parameter> entry : model.getBlock().getParameters()) {
            NDArray array = entry.getValue().getArray();
            float[] values = array.getDataType() == DataType.FLOAT32
                    ? array.toFloatArray() : array.toType(DataType.FLOAT32, false).toFloatArray();
            parameters.put(entry.getKey(), new NamedParameter(entry.getKey(), array.getShape().getShape(), values));
        }
        return Collections.unmodifiableMap(parameters);
    }

    /**
     * Overwrites a named parameter of the loaded module in place (e.g. with pruned weights); {@link #run} and
     * {@link #save} see the new values. The checkpoint must have been loaded with {@link #loadEditable}.
     *
     * @throws CompressException BAD_INPUT naming the checkpoint if it has no such parameter or its shape differs
     */
    public void setParameter(String name, float[] values) {
        for (Pair<String, Parameter> entry : model.getBlock().getParameters()) {
            if (entry.getKey().equals(name)) {
                NDArray array = entry.getValue().getArray();
                if (array.getShape().size() != values.length || array.getDataType() != DataType.FLOAT32) {
                    throw CompressException.badInput(file, "parameter '" + name + "' is " + array.getDataType()
                            + " " + array.getShape() + "; cannot set " + values.length + " floats");
                }
                // copies into the module's own storage, so the module (and a saved copy) holds the new values;
                // autograd must not record the copy into a parameter
                boolean grad = JniUtils.isGradMode();
                JniUtils.setGradMode(false);
                try {
                    array.set(FloatBuffer.wrap(values));
                } finally {
                    JniUtils.setGradMode(grad);
                }
                return;
            }
        }
        throw CompressException.badInput(file, "has no parameter '" + name + "'");
    }

    /**
     * Writes the module with its current parameters as a TorchScript file ({@code torch.jit.load} reads it),
     * atomically.
     *
     * @throws CompressException BAD_INPUT naming {@code out} if it cannot be written
     */
    public void save(Path out) {
        try (StagedFile staged = StagedFile.create(out)) {
            try (OutputStream stream = staged.open()) {
                JniUtils.writeModule((PtSymbolBlock) model.getBlock(), stream, false);
            }
            staged.commit();
        } catch (IOException e) {
            throw CompressException.badInput(out, "cannot write (" + e.getMessage() + ")", e);
        }
    }

    @Override
    public void close() {
        predictor.close();
        model.close();
    }

    /** A parameter tensor: its TorchScript name, shape and values in row-major order. */
    public record NamedParameter(String name, long[] shape, float[] values) {}

    /** Copies outputs to Java arrays before DJL frees the predictor's native memory. */
    private static final class ToFloats implements Translator<NDList, List<FloatOutput>> {
        @Override
        public ai.djl.translate.Batchifier getBatchifier() {
            return null; // batches arrive stacked already
        }

        @Override
        public NDList processInput(TranslatorContext ctx, NDList input) {
            return input;
        }

        @Override
        public List<FloatOutput> processOutput(TranslatorContext ctx, NDList list) {
            List<FloatOutput> outputs = new ArrayList<>(list.size());
            for (NDArray array : list) {
                NDArray floats = array.getDataType() == DataType.FLOAT32
                        ? array : array.toType(DataType.FLOAT32, false);
                outputs.add(new FloatOutput(array.getShape().getShape(), floats.toFloatArray()));
            }
            return outputs;
        }
    }
}
