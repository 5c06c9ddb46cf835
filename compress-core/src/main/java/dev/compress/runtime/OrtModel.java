package dev.compress.runtime;

import ai.onnxruntime.NodeInfo;
import ai.onnxruntime.OnnxTensor;
import ai.onnxruntime.OnnxValue;
import ai.onnxruntime.OrtEnvironment;
import ai.onnxruntime.OrtException;
import ai.onnxruntime.OrtSession;
import ai.onnxruntime.TensorInfo;
import dev.compress.CompressException;
import dev.compress.data.Batch;
import dev.compress.data.HostTensor;
import dev.compress.graph.OnnxModel;
import java.nio.FloatBuffer;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

/** An ONNX Runtime session over a model; runs batches and returns float outputs. Close it to free native memory. */
public final class OrtModel implements AutoCloseable {
    private final String name;
    private final OrtSession session;

    private OrtModel(String name, OrtSession session) {
        this.name = name;
        this.session = session;
    }

    /**
     * Stack of the thread that creates sessions. ONNX Runtime optimizes the graph on the calling thread and recurses
     * over it: a JVM thread's default 1 MiB overflowed (a SIGSEGV that kills the JVM, no Java error) when opening
     * EfficientNet-B0 with 60 of its nodes excluded from quantization; 2 MiB sufficed there. The reservation is
     * virtual memory, touched only as deep as the recursion goes.
     */
    private static final long SESSION_STACK_BYTES = 64L << 20;

    /** Opens a model file (external data is found beside it). */
    public static OrtModel open(Path file, RuntimeOptions options) {
        try (OrtSession.SessionOptions sessionOptions = sessionOptions(options)) {
            return new OrtModel(file.toString(), onLargeStack(
                    () -> environment().createSession(file.toString(), sessionOptions)));
        } catch (OrtException e) {
            throw CompressException.badInput(file, "ONNX Runtime cannot load the model (" + firstLine(e) + ")", e);
        }
    }

    /** Opens an in-memory model (all tensors inline). */
    public static OrtModel open(OnnxModel model, RuntimeOptions options) {
        byte[] bytes = model.toBytes();
        try (OrtSession.SessionOptions sessionOptions = sessionOptions(options)) {
            return new OrtModel(model.displayName(), onLargeStack(
                    () -> environment().createSession(bytes, sessionOptions)));
        } catch (OrtException e) {
            throw CompressException.badInput(
                    model.source().orElse(null), "ONNX Runtime cannot load the model (" + firstLine(e) + ")", e);
        }
    }

    /** A session-creating call: ONNX Runtime's own exception passes through. */
    interface SessionTask<T> {
        T call() throws OrtException;
    }

    /** Runs {@code task} on a new thread with a {@link #SESSION_STACK_BYTES} stack and waits for it. */
    static <T> T onLargeStack(SessionTask<T> task) throws OrtException {
        Object[] result = new Object[1];
        Throwable[] failure = new Throwable[1];
        Thread thread = new Thread(null, () -> {
            try {
                result[0] = task.call();
            } catch (Throwable t) {
                failure[0] = t;
            }
        }, "ort-session", SESSION_STACK_BYTES);
        thread.start();
        boolean interrupted = false;
        while (true) {
            try {
                thread.join();
                break;
            } catch (InterruptedException e) {
                // the session must finish either way: it owns native memory only its result can free
                interrupted = true;
            }
        }
        if (interrupted) {
            Thread.currentThread().interrupt();
        }
        if (failure[0] instanceof OrtException e) {
            throw e;
        }
        if (failure[0] instanceof RuntimeException e) {
            throw e;
        }
        if (failure[0] instanceof Error e) {
            throw e;
        }
        @SuppressWarnings("unchecked")
        T value = (T) result[0];
        return value;
    }

    /**
     * The process's ONNX Runtime environment, logging only fatal errors: an error comes back as an OrtException that
     * becomes the one-line message, and ORT's own log of it went to stderr as an extra line in terminal colours.
     */
    static OrtEnvironment environment() {
        return OrtEnvironment.getEnvironment(ai.onnxruntime.OrtLoggingLevel.ORT_LOGGING_LEVEL_FATAL, "compress");
    }

    private static OrtSession.SessionOptions sessionOptions(RuntimeOptions options) throws OrtException {
        OrtSession.SessionOptions sessionOptions = new OrtSession.SessionOptions();
        sessionOptions.setOptimizationLevel(switch (options.optimization()) {
            case NONE -> OrtSession.SessionOptions.OptLevel.NO_OPT;
            case BASIC -> OrtSession.SessionOptions.OptLevel.BASIC_OPT;
            case EXTENDED -> OrtSession.SessionOptions.OptLevel.EXTENDED_OPT;
            case ALL -> OrtSession.SessionOptions.OptLevel.ALL_OPT;
        });
        if (options.intraOpThreads() > 0) {
            sessionOptions.setIntraOpNumThreads(options.intraOpThreads());
        }
        if (options.optimizedModelFile() != null) {
            sessionOptions.setOptimizedModelFilePath(options.optimizedModelFile().toString());
        }
        if (options.profilePrefix() != null) {
            sessionOptions.enableProfiling(options.profilePrefix().toString());
        }
        return sessionOptions;
    }

    static String firstLine(Exception e) {
        String message = String.valueOf(e.getMessage()).strip();
        int newline = message.indexOf('\n');
        return newline < 0 ? message : message.substring(0, newline);
    }

    /** Input names to shapes as the session reports them (-1 for dynamic dimensions). */
    public Map<String, long[]> inputShapes() {
        return shapes(infos(true));
    }

    /** Output names to shapes as the session reports them (-1 for dynamic dimensions). */
    public Map<String, long[]> outputShapes() {
        return shapes(infos(false));
    }

    /** Output names to the names of their dimensions: the symbol of a dynamic one (may be empty), else "". */
    public Map<String, String[]> outputDimensionNames() {
        Map<String, String[]> names = new LinkedHashMap<>();
        infos(false).forEach((key, info) -> names.put(key,
                info.getInfo() instanceof TensorInfo t ? t.getDimensionNames() : new String[0]));
        return names;
    }

    private Map<String, NodeInfo> infos(boolean inputs) {
        try {
            return inputs ? session.getInputInfo() : session.getOutputInfo();
        } catch (OrtException e) {
            throw CompressException.internal("ONNX Runtime: " + firstLine(e), e);
        }
    }

    private static Map<String, long[]> shapes(Map<String, NodeInfo> infos) {
        Map<String, long[]> shapes = new LinkedHashMap<>();
        infos.forEach((key, info) -> shapes.put(key,
                info.getInfo() instanceof TensorInfo t ? t.getShape() : new long[0]));
        return shapes;
    }

    /** Output names whose element type is not FLOAT (integer shapes, booleans, sequences). */
    public java.util.Set<String> nonFloatOutputs() {
        java.util.Set<String> names = new java.util.LinkedHashSet<>();
        infos(false).forEach((name, info) -> {
            if (!(info.getInfo() instanceof TensorInfo t) || t.type != ai.onnxruntime.OnnxJavaType.FLOAT) {
                names.add(name);
            }
        });
        return names;
    }

    /** Runs one batch and returns all outputs, which must be float. */
    public Map<String, FloatOutput> run(Batch batch) {
        return run(batch, session.getOutputNames());
    }

    /** Runs one batch and returns the named float outputs; nothing runs when {@code outputs} is empty. */
    public Map<String, FloatOutput> run(Batch batch, Set<String> outputs) {
        if (outputs.isEmpty()) {
            return Map.of();
        }
        OrtEnvironment env = environment();
        Map<String, OnnxTensor> feeds = new LinkedHashMap<>();
        try {
            for (Map.Entry<String, HostTensor> input : batch.inputs().entrySet()) {
                HostTensor tensor = input.getValue();
                feeds.put(input.getKey(), switch (tensor.type()) {
                    case FLOAT -> OnnxTensor.createTensor(env, tensor.floats(), tensor.shape());
                    case INT64 -> OnnxTensor.createTensor(env, tensor.longs(), tensor.shape());
                });
            }
            try (OrtSession.Result result = session.run(feeds, outputs)) {
                Map<String, FloatOutput> values = new LinkedHashMap<>();
                for (Map.Entry<String, OnnxValue> entry : result) {
                    values.put(entry.getKey(), FloatOutput.of(entry.getKey(), entry.getValue()));
                }
                return values;
            }
        } catch (OrtException e) {
            Path first = batch.sources().isEmpty() ? null : batch.sources().get(0);
            throw CompressException.badInput(first, "ONNX Runtime failed on the batch starting here with model "
                    + name + " (" + firstLine(e) + ")" + batchAxisHint(firstLine(e), batch), e);
        } finally {
            feeds.values().forEach(OnnxTensor::close);
        }
    }

    /** For dims ONNX Runtime refuses on an input of rank 2 or more: how to say its samples are on another axis. */
    private static String batchAxisHint(String message, Batch batch) {
        java.util.regex.Matcher m = java.util.regex.Pattern.compile("invalid dimensions for input: (\\S+)")
                .matcher(message);
        if (!m.find() || !batch.inputs().containsKey(m.group(1)) || batch.inputs().get(m.group(1)).shape().length < 2) {
            return "";
        }
        HostTensor tensor = batch.inputs().get(m.group(1));
        return "; the batch gave it " + java.util.Arrays.toString(tensor.shape()) + " with the samples on axis "
                + tensor.batchAxis() + ": if they belong on another, say which with --batch-axis " + m.group(1)
                + "=AXIS";
    }

    /**
     * Ends the profile of a session opened {@link RuntimeOptions#withProfiling with profiling} and returns the file
     * ONNX Runtime wrote it to.
     *
     * @throws CompressException INTERNAL if ONNX Runtime cannot end it (for one, when profiling is off)
     */
    public Path endProfiling() {
        try {
            return Path.of(session.endProfiling());
        } catch (OrtException e) {
            throw CompressException.internal("ONNX Runtime: " + firstLine(e), e);
        }
    }

    @Override
    public void close() {
        try {
            session.close();
        } catch (OrtException e) {
            throw CompressException.internal("ONNX Runtime: " + firstLine(e), e);
        }
    }

    /** A float output copied out of native memory. */
    public record FloatOutput(long[] shape, float[] values) {
        static FloatOutput of(String name, OnnxValue value) {
            if (!(value instanceof OnnxTensor tensor)
                    || tensor.getInfo().type != ai.onnxruntime.OnnxJavaType.FLOAT) {
                throw CompressException.badInput("model output '" + name + "' is not a float tensor ("
                        + value.getInfo() + ")");
            }
            FloatBuffer buffer = tensor.getFloatBuffer();
            // ONNX Runtime already copied the native tensor into a fresh heap buffer: take its array, not a 2nd copy
            float[] values;
            if (buffer.hasArray() && buffer.arrayOffset() == 0 && buffer.position() == 0
                    && buffer.remaining() == buffer.array().length) {
                values = buffer.array();
            } else {
                values = new float[buffer.remaining()];
                buffer.get(values);
            }
            return new FloatOutput(tensor.getInfo().getShape(), values);
        }

        @Override
        public String toString() {
            return "FloatOutput" + Arrays.toString(shape);
        }
    }

    /** The names of the model's outputs, in order. */
    public List<String> outputNames() {
        return List.copyOf(session.getOutputNames());
    }
}
