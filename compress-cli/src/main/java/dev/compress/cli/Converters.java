package dev.compress.cli;

import dev.compress.CompressException;
import dev.compress.calibrate.CalibrationMethod;
import dev.compress.data.Preprocessing;
import dev.compress.quantize.ActivationType;
import dev.compress.quantize.DynamicFormat;
import picocli.CommandLine.ITypeConverter;
import picocli.CommandLine.TypeConversionException;

/**
 * Text of the command line into the core's types: every user string is parsed here, and a parser's one-line complaint
 * becomes picocli's usage error (exit 2) listing what is accepted.
 */
final class Converters {
    private Converters() {}

    /** A converter from a core parser; picocli needs a class with a no-argument constructor per type. */
    abstract static class Parsing<T> implements ITypeConverter<T> {
        abstract T parse(String value);

        @Override
        public T convert(String value) {
            try {
                return parse(value);
            } catch (IllegalArgumentException | CompressException e) {
                throw new TypeConversionException(e.getMessage());
            }
        }
    }

    /** {@code minmax}, {@code percentile}, {@code entropy}, {@code mse}, any case. */
    static final class Method extends Parsing<CalibrationMethod> {
        @Override
        CalibrationMethod parse(String value) {
            return CalibrationMethod.parse(value);
        }
    }

    /** {@code uint8} / {@code int8}, any case. */
    static final class Activations extends Parsing<ActivationType> {
        @Override
        ActivationType parse(String value) {
            return ActivationType.parse(value);
        }
    }

    /** {@code matmul-integer} / {@code qdq} / {@code weight-only}. */
    static final class Dynamic extends Parsing<DynamicFormat> {
        @Override
        DynamicFormat parse(String value) {
            return DynamicFormat.parse(value);
        }
    }

    /** {@code N} or {@code HxW}. */
    static final class ImageSize extends Parsing<Preprocessing.Size> {
        @Override
        Preprocessing.Size parse(String value) {
            return Preprocessing.parseSize(value);
        }
    }

    /** {@code NCHW} / {@code NHWC}, any case. */
    static final class Layout extends Parsing<Preprocessing.Layout> {
        @Override
        Preprocessing.Layout parse(String value) {
            return Preprocessing.Layout.parse(value);
        }
    }
}
