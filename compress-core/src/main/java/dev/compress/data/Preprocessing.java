package dev.compress.data;

import dev.compress.CompressException;
import dev.compress.Json;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Optional;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * How an image becomes model input: resize to {@link #resize()}, optionally center-crop to {@link #crop()}, take
 * {@link #channels()} color channels, then per channel {@code value = (p - mean[c]) / std[c]}, where {@code p} is
 * pixel / 255 when {@link #scaled()} (the default) and the raw pixel (0..255) otherwise; laid out as
 * {@link #layout()}.
 *
 * <p>Immutable. Build one with {@link #builder()}, or {@link #resolve resolve} it from a model input, the model's
 * {@value #METADATA_KEY} metadata, a preprocessing JSON file and command-line overrides. {@link #toJson()} writes the
 * same JSON that {@code resolve} reads, so reports and exported models can record exactly what was used.
 */
public final class Preprocessing {
    /** ONNX metadata key holding the preprocessing JSON. */
    public static final String METADATA_KEY = "compress.preprocess";

    /** Scale value meaning pixel / 255 (to [0,1]); the other accepted value is {@link #SCALE_NONE}. */
    public static final String SCALE_0_1 = "0-1";

    /** Scale value meaning raw pixel values in [0,255]. */
    public static final String SCALE_NONE = "0-255";

    /** Largest accepted height or width: guards against typos that would allocate gigabytes per image. */
    static final int MAX_SIZE = 1 << 16;

    private static final Pattern SIZE = Pattern.compile("\\s*(\\d{1,6})\\s*(?:[xX]\\s*(\\d{1,6})\\s*)?");

    /** Axis order of the model input. */
    public enum Layout {
        /** Batch, channel, height, width (PyTorch). */
        NCHW,
        /** Batch, height, width, channel (TensorFlow). */
        NHWC;

        /**
         * Parses {@code NCHW} or {@code NHWC}, any case.
         *
         * @throws CompressException BAD_INPUT for anything else
         */
        public static Layout parse(String text) {
            Layout layout = find(text);
            if (layout == null) {
                throw CompressException.badInput(unknown(text));
            }
            return layout;
        }

        static Layout find(String text) {
            for (Layout layout : values()) {
                if (layout.name().equalsIgnoreCase(text.trim())) {
                    return layout;
                }
            }
            return null;
        }

        static String unknown(String text) {
            return "unknown layout '" + text + "' (expected NCHW or NHWC)";
        }
    }

    /** An image size in pixels. */
    public record Size(int height, int width) {
        public Size {
            if (height <= 0 || width <= 0) {
                throw new IllegalArgumentException("size must be positive: " + height + "x" + width);
            }
        }

        /** {@code HxW}, the form {@link #parseSize} reads. */
        @Override
        public String toString() {
            return height + "x" + width;
        }
    }

    private final Size resize;
    private final Size crop;
    private final int channels;
    private final boolean scaled;
    private final float[] mean;
    private final float[] std;
    private final Layout layout;

    private Preprocessing(Builder b) {
        this.resize = Objects.requireNonNull(b.resize, "resize size not set");
        this.layout = Objects.requireNonNull(b.layout, "layout not set");
        if (b.channels != 1 && b.channels != 3) {
            throw new IllegalArgumentException("channels must be 1 or 3, got " + b.channels);
        }
        if (b.crop != null && (b.crop.height() > resize.height() || b.crop.width() > resize.width())) {
            throw new IllegalArgumentException("crop " + b.crop + " is larger than resize " + resize);
        }
        checkPerChannel("mean", b.mean, b.channels);
        checkPerChannel("std", b.std, b.channels);
        for (float s : b.std) {
            if (!(s > 0)) {
                throw new IllegalArgumentException("std must be positive, got " + Arrays.toString(b.std));
            }
        }
        this.crop = b.crop;
        this.channels = b.channels;
        this.scaled = b.scaled;
        this.mean = b.mean.clone();
        this.std = b.std.clone();
    }

    private static void checkPerChannel(String name, float[] values, int channels) {
        if (values.length != 1 && values.length != channels) {
            throw new IllegalArgumentException(
                    name + " has " + values.length + " values; expected 1 or " + channels + " (one per channel)");
        }
        for (float v : values) {
            if (!Float.isFinite(v)) {
                throw new IllegalArgumentException(name + " must be finite, got " + Arrays.toString(values));
            }
        }
    }

    public static Builder builder() {
        return new Builder();
    }

    /**
     * Works out the preprocessing for one model input. Later sources override earlier ones key by key:
     *
     * <ol>
     *   <li>the input shape: layout NCHW if dimension 1 is 1 or 3, else NHWC if the last is; channels and
     *       height/width from the shape (-1 or 0 = dynamic);
     *   <li>the model's {@value #METADATA_KEY} metadata, a JSON object with optional keys {@code channels},
     *       {@code mean}, {@code std}, {@code layout} ("NCHW"/"NHWC"), {@code scale} ("0-1"/"0-255"),
     *       {@code resize} and {@code crop} ([h, w]);
     *   <li>the {@linkplain Overrides.Builder#optPreprocessFile preprocessing file}, same keys;
     *   <li>the other {@link Overrides}.
     * </ol>
     *
     * Defaults: no crop, scale 0-1, mean 0, std 1. The result must fit the input's static dimensions.
     *
     * @param model the model file, named in error messages
     * @param inputName the image input, named in error messages
     * @param inputShape the input's shape, -1 or 0 for dynamic dimensions; empty if the model records none
     * @param metadata the model's metadata (may be empty)
     * @throws CompressException BAD_INPUT naming the file (model or JSON) the problem comes from
     */
    public static Preprocessing resolve(
            Path model, String inputName, long[] inputShape, Map<String, String> metadata, Overrides overrides) {
        return PreprocessingResolver.resolve(model, inputName, inputShape, metadata, overrides);
    }

    /**
     * Parses an image size: {@code N} (square) or {@code HxW}.
     *
     * @throws CompressException BAD_INPUT for anything else
     */
    public static Size parseSize(String text) {
        Matcher m = SIZE.matcher(text);
        if (m.matches()) {
            int h = Integer.parseInt(m.group(1));
            int w = m.group(2) == null ? h : Integer.parseInt(m.group(2));
            if (h > 0 && w > 0 && h <= MAX_SIZE && w <= MAX_SIZE) {
                return new Size(h, w);
            }
        }
        throw CompressException.badInput("image size '" + text + "' is not N or HxW (e.g. 32 or 224x224, at most "
                + MAX_SIZE + ")");
    }

    /**
     * Parses comma-separated numbers such as {@code 0.485,0.456,0.406}.
     *
     * @param what names the values in the error message, e.g. "mean"
     * @throws CompressException BAD_INPUT if a value is not a finite number
     */
    public static float[] parseFloats(String what, String text) {
        String[] parts = text.split(",", -1);
        float[] values = new float[parts.length];
        for (int i = 0; i < parts.length; i++) {
            try {
                values[i] = Float.parseFloat(parts[i].trim());
            } catch (NumberFormatException e) {
                values[i] = Float.NaN;
            }
            if (!Float.isFinite(values[i])) {
                throw CompressException.badInput(what + " '" + text + "' is not a comma-separated list of numbers");
            }
        }
        return values;
    }

    /** The size images are resized to before cropping. */
    public Size resize() {
        return resize;
    }

    /** The center crop taken after resizing, if any. */
    public Optional<Size> crop() {
        return Optional.ofNullable(crop);
    }

    /** The size of the model input image: the crop if there is one, else the resize size. */
    public Size outputSize() {
        return crop != null ? crop : resize;
    }

    /** 1 (grayscale) or 3 (RGB). */
    public int channels() {
        return channels;
    }

    /** Whether pixels are divided by 255 (to [0,1]) before normalizing. */
    public boolean scaled() {
        return scaled;
    }

    /** Mean to subtract: one value for all channels, or one per channel. */
    public float[] mean() {
        return mean.clone();
    }

    /** Standard deviation to divide by: one value for all channels, or one per channel. */
    public float[] std() {
        return std.clone();
    }

    public Layout layout() {
        return layout;
    }

    /** The shape of a batch of {@code n} images: [n, C, H, W] or [n, H, W, C]. */
    public long[] batchShape(int n) {
        Size out = outputSize();
        return layout == Layout.NCHW
                ? new long[] {n, channels, out.height(), out.width()}
                : new long[] {n, out.height(), out.width(), channels};
    }

    /** All settings under the keys {@link #resolve} reads, for reports; a fresh mutable map. */
    public Map<String, Object> toMap() {
        Map<String, Object> map = new LinkedHashMap<>();
        map.put("resize", List.of(resize.height(), resize.width()));
        if (crop != null) {
            map.put("crop", List.of(crop.height(), crop.width()));
        }
        map.put("channels", channels);
        map.put("scale", scaled ? SCALE_0_1 : SCALE_NONE);
        map.put("mean", floatList(mean));
        map.put("std", floatList(std));
        map.put("layout", layout.name());
        return map;
    }

    private static List<Float> floatList(float[] values) {
        Float[] boxed = new Float[values.length];
        for (int i = 0; i < values.length; i++) {
            boxed[i] = values[i];
        }
        return List.of(boxed);
    }

    /** {@link #toMap()} as one-line JSON, e.g. for the {@value #METADATA_KEY} metadata of an exported model. */
    public String toJson() {
        return Json.compact(toMap());
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof Preprocessing p
                && resize.equals(p.resize)
                && Objects.equals(crop, p.crop)
                && channels == p.channels
                && scaled == p.scaled
                && Arrays.equals(mean, p.mean)
                && Arrays.equals(std, p.std)
                && layout == p.layout;
    }

    @Override
    public int hashCode() {
        return Objects.hash(resize, crop, channels, scaled, Arrays.hashCode(mean), Arrays.hashCode(std), layout);
    }

    @Override
    public String toString() {
        return toJson();
    }

    /** Builds a {@link Preprocessing}; {@code set*} are required, {@code opt*} optional. */
    public static final class Builder {
        private Size resize;
        private Size crop;
        private int channels;
        private boolean scaled = true;
        private float[] mean = {0f};
        private float[] std = {1f};
        private Layout layout;

        private Builder() {}

        /** The size images are resized to. */
        public Builder setResize(int height, int width) {
            this.resize = new Size(height, width);
            return this;
        }

        /** 1 (grayscale) or 3 (RGB). */
        public Builder setChannels(int channels) {
            this.channels = channels;
            return this;
        }

        public Builder setLayout(Layout layout) {
            this.layout = layout;
            return this;
        }

        /** A center crop taken after resizing; no larger than the resize size. Default: none. */
        public Builder optCrop(int height, int width) {
            this.crop = new Size(height, width);
            return this;
        }

        /** Whether to divide pixels by 255 first. Default: true. */
        public Builder optScaled(boolean scaled) {
            this.scaled = scaled;
            return this;
        }

        /** One value, or one per channel. Default: 0. */
        public Builder optMean(float... mean) {
            this.mean = mean.clone();
            return this;
        }

        /** One positive value, or one per channel. Default: 1. */
        public Builder optStd(float... std) {
            this.std = std.clone();
            return this;
        }

        /**
         * @throws IllegalArgumentException if a required setting is missing or the settings do not fit together
         */
        public Preprocessing build() {
            return new Preprocessing(this);
        }
    }

    /**
     * What the user asked for on top of the model's own preprocessing; every setting is optional. Front ends parse
     * their text forms with {@link #parseSize}, {@link #parseFloats} and {@link Layout#parse}.
     */
    public static final class Overrides {
        /** No overrides: the model's shape and metadata decide. */
        public static final Overrides NONE = builder().build();

        final Path preprocessFile;
        final Size resize;
        final Integer channels;
        final float[] mean;
        final float[] std;
        final Layout layout;

        private Overrides(Builder b) {
            this.preprocessFile = b.preprocessFile;
            this.resize = b.resize;
            this.channels = b.channels;
            this.mean = b.mean;
            this.std = b.std;
            this.layout = b.layout;
        }

        public static Builder builder() {
            return new Builder();
        }

        /** Whether nothing is overridden. */
        public boolean isEmpty() {
            return preprocessFile == null && resize == null && channels == null && mean == null && std == null
                    && layout == null;
        }

        /**
         * Builds {@link Overrides}. Every method takes {@code null} for "not overridden", and throws
         * {@link CompressException} INVALID_SETTINGS for a value no image can take.
         */
        public static final class Builder {
            private Path preprocessFile;
            private Size resize;
            private Integer channels;
            private float[] mean;
            private float[] std;
            private Layout layout;

            private Builder() {}

            /** A JSON file with the same keys as the {@value #METADATA_KEY} metadata ({@code --preprocess}). */
            public Builder optPreprocessFile(Path file) {
                this.preprocessFile = file;
                return this;
            }

            /** The size images are resized to. */
            public Builder optImageSize(Size size) {
                this.resize = size;
                return this;
            }

            /** 1 or 3. */
            public Builder optChannels(Integer channels) {
                if (channels != null && channels != 1 && channels != 3) {
                    throw CompressException.invalidSettings("channels must be 1 or 3, got " + channels);
                }
                this.channels = channels;
                return this;
            }

            /** One value, or one per channel. */
            public Builder optMean(float[] mean) {
                this.mean = mean == null ? null : mean.clone();
                return this;
            }

            /** Positive values, one or one per channel. */
            public Builder optStd(float[] std) {
                if (std != null) {
                    for (float v : std) {
                        if (!(v > 0)) {
                            throw CompressException.invalidSettings("std " + Arrays.toString(std)
                                    + " must be positive (it divides)");
                        }
                    }
                }
                this.std = std == null ? null : std.clone();
                return this;
            }

            public Builder optLayout(Layout layout) {
                this.layout = layout;
                return this;
            }

            public Overrides build() {
                return new Overrides(this);
            }
        }
    }
}
