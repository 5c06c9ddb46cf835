package dev.compress.graph;

import com.google.protobuf.CodedInputStream;
import com.google.protobuf.InvalidProtocolBufferException;
import dev.compress.CompressException;
import dev.compress.onnx.proto.Onnx.GraphProto;
import dev.compress.onnx.proto.Onnx.ModelProto;
import dev.compress.onnx.proto.Onnx.OperatorSetIdProto;
import dev.compress.onnx.proto.Onnx.StringStringEntryProto;
import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.Collection;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.Map;
import java.util.Optional;
import java.util.Set;

/**
 * An ONNX model in memory: the model-level fields (opsets, metadata, producer) and one mutable {@link Graph} that
 * every pipeline stage reads and rewrites.
 *
 * <p>Tensors stored as external data beside the model are read in on {@link #load} and can be written out again
 * by {@link #save(Path, SaveOptions)}, so models over protobuf's 2 GB limit round-trip.
 */
public final class OnnxModel {
    /** The default ONNX domain, as it appears in opset imports ("" and "ai.onnx" are the same). */
    public static final String DEFAULT_DOMAIN = "";

    private final Path source;
    private ModelProto header;
    private final Map<String, Long> opsets = new LinkedHashMap<>();
    private final Map<String, String> metadata = new LinkedHashMap<>();
    private final Graph graph;

    private OnnxModel(Path source, ModelProto proto) {
        this.source = source;
        this.header = proto.toBuilder().clearGraph().clearOpsetImport().clearMetadataProps().build();
        for (OperatorSetIdProto opset : proto.getOpsetImportList()) {
            opsets.put(normalizeDomain(opset.getDomain()), opset.getVersion());
        }
        for (StringStringEntryProto entry : proto.getMetadataPropsList()) {
            metadata.put(entry.getKey(), entry.getValue());
        }
        this.graph = new Graph(proto.getGraph());
    }

    /**
     * Reads an ONNX model file, resolving external data relative to its folder.
     *
     * @throws CompressException BAD_INPUT naming the file if it is missing, unreadable, not ONNX or truncated, or
     *     breaks a structural rule of ONNX (naming the node or tensor)
     */
    public static OnnxModel load(Path path) {
        if (!Files.exists(path)) {
            throw CompressException.badInput(path, "no such file");
        }
        String foreign = ForeignFormat.describe(path);
        if (foreign != null) {
            throw CompressException.badInput(path, foreign);
        }
        if (Files.isDirectory(path)) {
            throw CompressException.badInput(path, "is a directory, expected an .onnx model file");
        }
        if (!Files.isRegularFile(path)) {
            // reading a FIFO or a device would block or never end
            throw CompressException.badInput(path, "is not a regular file (a FIFO, device or socket), expected an"
                    + " .onnx model file");
        }
        ModelProto proto;
        try (InputStream in = Files.newInputStream(path)) {
            CodedInputStream coded = CodedInputStream.newInstance(in);
            coded.setSizeLimit(Integer.MAX_VALUE);
            proto = ModelProto.parseFrom(coded);
        } catch (NoSuchFileException e) {
            throw CompressException.badInput(path, "no such file");
        } catch (InvalidProtocolBufferException e) {
            throw CompressException.badInput(path, "not a valid ONNX model (" + describeParseError(e) + ")", e);
        } catch (IOException e) {
            throw CompressException.badInput(path, "cannot read (" + e.getMessage() + ")", e);
        }
        if (!proto.hasGraph() || proto.getIrVersion() <= 0 || proto.getGraph().getNodeCount() == 0) {
            throw CompressException.badInput(
                    path, "not a valid ONNX model (no graph or no IR version; is it really an .onnx file?)");
        }
        Path folder = path.toAbsolutePath().getParent();
        proto = ExternalData.inline(proto, folder, path);
        ModelValidator.check(proto, path);
        return new OnnxModel(path, proto);
    }

    /** Wraps a model built in memory; external data references must already be resolved. */
    public static OnnxModel of(ModelProto proto) {
        return new OnnxModel(null, proto);
    }

    /** A model of {@code graph} (copied) importing {@code opsets}, e.g. to run part of another model on its own. */
    public static OnnxModel of(long irVersion, Map<String, Long> opsets, Graph graph) {
        ModelProto.Builder builder = ModelProto.newBuilder().setIrVersion(irVersion).setGraph(graph.toProto());
        opsets.forEach((domain, version) ->
                builder.addOpsetImport(OperatorSetIdProto.newBuilder().setDomain(domain).setVersion(version)));
        return new OnnxModel(null, builder.build());
    }

    private static String describeParseError(InvalidProtocolBufferException e) {
        String message = String.valueOf(e.getMessage());
        if (message.contains("truncated")) {
            return "file is truncated";
        }
        return message.length() > 120 ? message.substring(0, 120) + "..." : message;
    }

    static String normalizeDomain(String domain) {
        return "ai.onnx".equals(domain) ? DEFAULT_DOMAIN : domain;
    }

    /** The file this model was loaded from, if any. */
    public Optional<Path> source() {
        return Optional.ofNullable(source);
    }

    /** A name for messages: the source file, or the graph name. */
    public String displayName() {
        return source != null ? source.toString() : graph.name();
    }

    public Graph graph() {
        return graph;
    }

    public long irVersion() {
        return header.getIrVersion();
    }

    public String producerName() {
        return header.getProducerName();
    }

    public String producerVersion() {
        return header.getProducerVersion();
    }

    /** Opset version imported for {@code domain} ("" = default ONNX domain), or 0 if not imported. */
    public long opset(String domain) {
        return opsets.getOrDefault(normalizeDomain(domain), 0L);
    }

    /** Domain to version, in file order; a copy. */
    public Map<String, Long> opsets() {
        return new LinkedHashMap<>(opsets);
    }

    public void setOpset(String domain, long version) {
        opsets.put(normalizeDomain(domain), version);
    }

    /** The model's metadata_props, live and in file order. */
    public Map<String, String> metadata() {
        return metadata;
    }

    /** A deep copy, so a stage can rewrite it without touching this one. */
    public OnnxModel copy() {
        return new OnnxModel(source, toProto());
    }

    /**
     * A copy that also outputs {@code tensors}: ONNX Runtime returns graph outputs only, so calibration and
     * layer-wise debugging fetch intermediate tensors this way. Tensors that already are inputs or outputs are skipped.
     */
    public OnnxModel withExtraOutputs(Collection<String> tensors) {
        OnnxModel probe = copy();
        Graph probeGraph = probe.graph();
        Set<String> present = new LinkedHashSet<>();
        probeGraph.declaredInputs().forEach(input -> present.add(input.name()));
        probeGraph.outputs().forEach(output -> present.add(output.name()));
        for (String tensor : tensors) {
            if (present.add(tensor)) {
                // ONNX Runtime infers the type and shape; only the name is needed
                probeGraph.outputs().add(ValueInfo.named(tensor));
            }
        }
        return probe;
    }

    /** The model as a protobuf message, with the current graph. */
    public ModelProto toProto() {
        ModelProto.Builder builder = header.toBuilder();
        opsets.forEach((domain, version) ->
                builder.addOpsetImport(OperatorSetIdProto.newBuilder().setDomain(domain).setVersion(version)));
        metadata.forEach((key, value) ->
                builder.addMetadataProps(StringStringEntryProto.newBuilder().setKey(key).setValue(value)));
        GraphProto graphProto = graph.toProto();
        return builder.setGraph(graphProto).build();
    }

    /** Serialized bytes with all tensors inline; fails for models over 2 GB (use {@link #save}). */
    public byte[] toBytes() {
        return toProto().toByteArray();
    }

    /** Raises the IR version to at least {@code version} (newer opsets need newer IR versions). */
    public void raiseIrVersion(long version) {
        if (header.getIrVersion() < version) {
            header = header.toBuilder().setIrVersion(version).build();
        }
    }

    /** Sets the producer fields recorded in the file. */
    public void setProducer(String name, String version) {
        header = header.toBuilder().setProducerName(name).setProducerVersion(version).build();
    }

    /** Writes the model to {@code out} with default options. */
    public void save(Path out) {
        save(out, SaveOptions.defaults());
    }

    /**
     * Writes the model atomically: to temporary files in the target folder, then moved into place, so a failure
     * never leaves a half-written model behind.
     *
     * @throws CompressException BAD_INPUT if the output folder does not exist or is not writable
     */
    public void save(Path out, SaveOptions options) {
        ModelWriter.write(toProto(), out, options);
    }
}
