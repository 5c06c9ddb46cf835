package dev.compress.cli;

import dev.compress.recipe.Recipe;
import java.util.ArrayList;
import java.util.List;

import dev.compress.CompressException;
import dev.compress.data.Preprocessing;
import java.nio.file.Path;
import java.util.function.Supplier;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.ParameterException;
import picocli.CommandLine.Spec;

/**
 * Image preprocessing flags of every command that reads images. Each overrides one key of what the model's input
 * shape and its {@code compress.preprocess} metadata say; text is parsed here, by picocli converters, and malformed
 * values are usage errors.
 */
public final class PreprocessingOptions {
    @Spec(Spec.Target.MIXEE)
    private CommandSpec mixee;

    @Option(names = "--preprocess", paramLabel = "FILE", order = 100,
            description = "Preprocessing JSON (keys: resize, crop, channels, mean, std, layout, scale);"
                    + " overrides the model's compress.preprocess metadata.")
    Path preprocessFile;

    @Option(names = "--image-size", paramLabel = "N|HxW", order = 101, converter = Converters.ImageSize.class,
            description = "Resize images to N x N or H x W pixels. Default: from the model input shape.")
    Preprocessing.Size imageSize;

    private Integer channels;

    @Option(names = "--channels", paramLabel = "1|3", order = 102,
            description = "1 (grayscale) or 3 (RGB). Default: from the model input shape.")
    void setChannels(int value) {
        if (value != 1 && value != 3) {
            throw new ParameterException(mixee.commandLine(), "--channels must be 1 or 3, got " + value);
        }
        channels = value;
    }

    // arrays would make picocli expect several values; one comma-separated value is parsed here
    private float[] mean;
    private float[] std;

    @Option(names = "--mean", paramLabel = "a,b,c", order = 103,
            description = "Mean subtracted per channel after scaling to [0,1]. Default: metadata, else 0.")
    void setMean(String value) {
        mean = usageError(() -> Preprocessing.parseFloats("mean", value));
    }

    @Option(names = "--std", paramLabel = "a,b,c", order = 104,
            description = "Standard deviation divided per channel. Default: metadata, else 1.")
    void setStd(String value) {
        std = usageError(() -> Preprocessing.parseFloats("std", value));
        for (float v : std) {
            if (!(v > 0)) {
                throw new ParameterException(mixee.commandLine(), "std '" + value + "' must be positive (it divides)");
            }
        }
    }

    @Option(names = "--layout", paramLabel = "NCHW|NHWC", order = 105, converter = Converters.Layout.class,
            description = "Axis order of the image input. Default: from the model input shape.")
    Preprocessing.Layout layout;

    /** The flags as core overrides; unset flags leave the model's own settings in place. */
    public Preprocessing.Overrides overrides() {
        return Preprocessing.Overrides.builder()
                .optPreprocessFile(preprocessFile)
                .optImageSize(imageSize)
                .optChannels(channels)
                .optMean(mean)
                .optStd(std)
                .optLayout(layout)
                .build();
    }

    /** The flags as a recipe's {@code data.preprocessing}; null when none was given. */
    Recipe.Preprocessing recipe() {
        if (preprocessFile == null && imageSize == null && channels == null && mean == null && std == null
                && layout == null) {
            return null;
        }
        return new Recipe.Preprocessing(preprocessFile == null ? null : preprocessFile.toString(),
                imageSize == null ? null : imageSize.toString(), channels, list(mean), list(std),
                layout == null ? null : layout.name());
    }

    private static List<Float> list(float[] values) {
        if (values == null) {
            return null;
        }
        List<Float> list = new ArrayList<>();
        for (float value : values) {
            list.add(value);
        }
        return list;
    }

    /** A core parser's one-line complaint as a usage error. */
    private <T> T usageError(Supplier<T> parser) {
        try {
            return parser.get();
        } catch (CompressException e) {
            throw new ParameterException(mixee.commandLine(), e.getMessage());
        }
    }
}
