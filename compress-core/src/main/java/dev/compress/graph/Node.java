package dev.compress.graph;

import dev.compress.onnx.proto.Onnx.AttributeProto;
import dev.compress.onnx.proto.Onnx.NodeProto;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;

/**
 * One operator call in a graph: op type, domain, name, the names of the values it reads and writes, and its
 * attributes. Mutable, with identity semantics: passes edit nodes in place, and two nodes with the same content are
 * still two nodes.
 *
 * <p>ONNX marks a skipped optional input with the empty name; {@link #input} returns "" past the end as well.
 */
public final class Node {
    private String opType;
    private String domain;
    private String name;
    private final List<String> inputs;
    private final List<String> outputs;
    private final List<Attribute> attributes;
    /**
     * The node as read, without its lists: keeps the fields this model does not interpret (doc string, fields of
     * newer ONNX versions) and whether name and domain were written at all, so an unchanged node writes the same bytes.
     */
    private NodeProto rest;

    Node(NodeProto proto) {
        this.opType = proto.getOpType();
        this.domain = proto.getDomain();
        this.name = proto.getName();
        this.inputs = new ArrayList<>(proto.getInputList());
        this.outputs = new ArrayList<>(proto.getOutputList());
        this.attributes = new ArrayList<>(proto.getAttributeCount());
        for (AttributeProto attr : proto.getAttributeList()) {
            attributes.add(new Attribute(attr));
        }
        this.rest = proto.toBuilder().clearInput().clearOutput().clearAttribute().build();
    }

    private Node(String opType, String name, List<String> inputs, List<String> outputs) {
        this.opType = opType;
        this.domain = "";
        this.name = name;
        this.inputs = new ArrayList<>(inputs);
        this.outputs = new ArrayList<>(outputs);
        this.attributes = new ArrayList<>();
        this.rest = NodeProto.newBuilder().setOpType(opType).setName(name).build();
    }

    /** A new node of the default ONNX domain. */
    public static Node of(String opType, String name, List<String> inputs, List<String> outputs) {
        return new Node(opType, name, inputs, outputs);
    }

    NodeProto toProto() {
        NodeProto.Builder builder = rest.toBuilder().addAllInput(inputs).addAllOutput(outputs);
        if (!opType.equals(rest.getOpType())) {
            builder.setOpType(opType);
        }
        if (!name.equals(rest.getName())) {
            builder.setName(name);
        }
        if (!domain.equals(rest.getDomain())) {
            builder.setDomain(domain);
        }
        attributes.forEach(a -> builder.addAttribute(a.toProto()));
        return builder.build();
    }

    /** A deep copy, subgraphs included. */
    public Node copy() {
        return new Node(toProto());
    }

    public String opType() {
        return opType;
    }

    public Node setOpType(String opType) {
        this.opType = opType;
        return this;
    }

    /** The domain as written ("" or "ai.onnx" for the default one). */
    public String domain() {
        return domain;
    }

    public Node setDomain(String domain) {
        this.domain = domain;
        return this;
    }

    /** Whether the node is in the default ONNX domain ("" or "ai.onnx"). */
    public boolean inDefaultDomain() {
        return domain.isEmpty() || domain.equals("ai.onnx");
    }

    /** Whether this is {@code opType} of the default ONNX domain. */
    public boolean is(String opType) {
        return this.opType.equals(opType) && inDefaultDomain();
    }

    /** The op type, prefixed with its domain ({@code com.microsoft:FusedConv}) outside the default domain. */
    public String qualifiedOpType() {
        return inDefaultDomain() ? opType : domain + ":" + opType;
    }

    public String name() {
        return name;
    }

    public Node setName(String name) {
        this.name = name;
        return this;
    }

    /** The names of the values read, in order; live. */
    public List<String> inputs() {
        return inputs;
    }

    /** The names of the values written, in order; live. */
    public List<String> outputs() {
        return outputs;
    }

    /** Input {@code index}, or "" when absent or skipped. */
    public String input(int index) {
        return index < inputs.size() ? inputs.get(index) : "";
    }

    /** Output {@code index}, or "" when absent. */
    public String output(int index) {
        return index < outputs.size() ? outputs.get(index) : "";
    }

    public Node setInput(int index, String value) {
        inputs.set(index, value);
        return this;
    }

    public Node setOutput(int index, String value) {
        outputs.set(index, value);
        return this;
    }

    /** Free text the exporter attached (often a source location); "" when none. */
    public String docString() {
        return rest.getDocString();
    }

    public Node setDocString(String docString) {
        rest = docString.isEmpty() ? rest.toBuilder().clearDocString().build()
                : rest.toBuilder().setDocString(docString).build();
        return this;
    }

    /** The attributes in file order; live. */
    public List<Attribute> attributes() {
        return attributes;
    }

    public Optional<Attribute> attribute(String name) {
        for (Attribute attr : attributes) {
            if (attr.name().equals(name)) {
                return Optional.of(attr);
            }
        }
        return Optional.empty();
    }

    public long intAttribute(String name, long fallback) {
        return attribute(name).map(Attribute::i).orElse(fallback);
    }

    public float floatAttribute(String name, float fallback) {
        return attribute(name).map(Attribute::f).orElse(fallback);
    }

    /** Sets {@code attr}, replacing one of the same name in place or adding it at the end. */
    public Node set(Attribute attr) {
        for (int i = 0; i < attributes.size(); i++) {
            if (attributes.get(i).name().equals(attr.name())) {
                attributes.set(i, attr);
                return this;
            }
        }
        attributes.add(attr);
        return this;
    }

    /** The If/Loop/Scan bodies and other graphs in this node's attributes; live. */
    public List<Graph> subgraphs() {
        List<Graph> graphs = new ArrayList<>();
        attributes.forEach(a -> graphs.addAll(a.graphs()));
        return graphs;
    }

    /** A name for messages: the node's name, or its op type and first output when unnamed. */
    public String describe() {
        return name.isEmpty() ? opType + "(->" + (outputs.isEmpty() ? "?" : outputs.get(0)) + ")" : name;
    }

    @Override
    public String toString() {
        return describe();
    }
}
