package dev.compress.data;

import java.nio.Buffer;
import java.nio.FloatBuffer;
import java.nio.LongBuffer;
import java.util.Arrays;

/** A dense tensor in Java memory: what datasets produce and what runtimes consume. */
public final class HostTensor {
    /** Element types a dataset can produce. */
    public enum ElementType {
        FLOAT,
        INT64
    }

    private final ElementType type;
    private final long[] shape;
    private final Buffer data;
    /** The axis samples are stacked on: 0 for most inputs, 1 for e.g. an RNN state [layers, batch, hidden]. */
    private final int batchAxis;

    private HostTensor(ElementType type, long[] shape, Buffer data, int batchAxis) {
        long count = elementCount(shape);
        if (count != data.remaining()) {
            throw new IllegalArgumentException(
                    "shape " + Arrays.toString(shape) + " needs " + count + " elements, got " + data.remaining());
        }
        this.type = type;
        this.shape = shape.clone();
        this.data = data;
        this.batchAxis = batchAxis;
    }

    public static HostTensor ofFloats(long[] shape, float[] values) {
        return ofFloats(shape, values, 0);
    }

    public static HostTensor ofLongs(long[] shape, long[] values) {
        return ofLongs(shape, values, 0);
    }

    /** A tensor whose samples lie along {@code batchAxis} (ignored for a scalar). */
    public static HostTensor ofFloats(long[] shape, float[] values, int batchAxis) {
        return new HostTensor(ElementType.FLOAT, shape, FloatBuffer.wrap(values), batchAxis);
    }

    public static HostTensor ofLongs(long[] shape, long[] values, int batchAxis) {
        return new HostTensor(ElementType.INT64, shape, LongBuffer.wrap(values), batchAxis);
    }

    public static long elementCount(long[] shape) {
        long n = 1;
        for (long d : shape) {
            n *= d;
        }
        return n;
    }

    public ElementType type() {
        return type;
    }

    public long[] shape() {
        return shape.clone();
    }

    /** The axis samples are stacked on. */
    public int batchAxis() {
        return batchAxis;
    }

    /** The values; a read-only view positioned at the first element. */
    public FloatBuffer floats() {
        if (type != ElementType.FLOAT) {
            throw new IllegalStateException("tensor holds " + type + ", not FLOAT");
        }
        return ((FloatBuffer) data).duplicate().asReadOnlyBuffer();
    }

    public LongBuffer longs() {
        if (type != ElementType.INT64) {
            throw new IllegalStateException("tensor holds " + type + ", not INT64");
        }
        return ((LongBuffer) data).duplicate().asReadOnlyBuffer();
    }
}
