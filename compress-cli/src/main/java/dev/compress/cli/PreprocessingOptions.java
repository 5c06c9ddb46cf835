package dev.compress.cli;

import dev.compress.CompressException;
import dev.compress.data.Preprocessing;
import java.nio.file.Path;
import java.util.function.Consumer;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.ParameterException;
import picocli.CommandLine.Spec;

/**
 * Image preprocessing flags shared by {@code quantize}, {@code eval}, {@code score} and {@code debug}. Each overrides
 * one key of what the model's input shape and its {@code compress.preprocess} metadata say; malformed values are
 * usage errors.
 */
public final class PreprocessingOptions {
    @Spec(Spec.Target.MIXEE)
    private CommandSpec mixee;

    private String imageSize;
    private Integer channels;
    private String mean;
    private String std;
    private String layout;

    @Option(names = "--preprocess", paramLabel = "FILE", order = 100,
            description = "Preprocessing JSON (keys: resize, crop, channels, mean, std, layout, scale);"
                    + " overrides the model's compress.preprocess metadata.")
    Path preprocessFile;

    @Option(names = "--image-size", paramLabel = "N|HxW", order = 101,
            description = "Resize images to N x N or H x W pixels. Default: from the model input shape.")
    void setImageSize(String value) {
        check(value, v -> Preprocessing.parseSize(v));
        imageSize = value;
    }

    @Option(names = "--channels", paramLabel = "1|3", order = 102,
            description = "1 (grayscale) or 3 (RGB). Default: from the model input shape.")
    void setChannels(int value) {
        if (value != 1 && value != 3) {
            throw new ParameterException(mixee.commandLine(), "--channels must be 1 or 3, got " + value);
        }
        channels = value;
    }

    @Option(names = "--mean", paramLabel = "a,b,c", order = 103,
            description = "Mean subtracted per channel after scaling to [0,1]. Default: metadata, else 0.")
    void setMean(String value) {
        check(value, v -> Preprocessing.Overrides.builder().optMean(v));
        mean = value;
    }

    @Option(names = "--std", paramLabel = "a,b,c", order = 104,
            description = "Standard deviation divided per channel. Default: metadata, else 1.")
    void setStd(String value) {
        check(value, v -> Preprocessing.Overrides.builder().optStd(v));
        std = value;
    }

    @Option(names = "--layout", paramLabel = "NCHW|NHWC", order = 105,
            description = "Axis order of the image input. Default: from the model input shape.")
    void setLayout(String value) {
        check(value, v -> Preprocessing.Layout.parse(v));
        layout = value;
    }

    private void check(String value, Consumer<String> parser) {
        try {
            parser.accept(value);
        } catch (CompressException e) {
            throw new ParameterException(mixee.commandLine(), e.getMessage());
        }
    }

    /** Whether any preprocessing option was given. */
    public boolean isSet() {
        return preprocessFile != null || imageSize != null || channels != null || mean != null || std != null
                || layout != null;
    }

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
}
