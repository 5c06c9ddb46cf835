package dev.compress.data;

import ai.djl.modality.cv.BufferedImageFactory;
import ai.djl.modality.cv.Image;
import ai.djl.modality.cv.ImageFactory;
import dev.compress.CompressException;
import dev.compress.data.Preprocessing.Size;
import java.awt.color.ColorSpace;
import java.awt.image.BufferedImage;
import java.awt.image.ColorModel;
import java.awt.image.IndexColorModel;
import java.awt.image.Raster;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Iterator;
import javax.imageio.ImageIO;
import javax.imageio.ImageTypeSpecifier;
import javax.imageio.stream.ImageInputStream;

/**
 * Decodes one image file and writes it, preprocessed, into a batch array; DJL's image API resizes and crops.
 *
 * <p>Images are converted to the model's channels as PIL's {@code convert("RGB")} / {@code convert("L")} do (what
 * torchvision's folder loader feeds training), so that calibration sees the pixels the model was trained on:
 * gray is replicated, palettes are looked up, alpha is dropped (not composited), 16-bit samples keep their high
 * byte, CMYK becomes RGB, and a one-channel model gets the luma {@code (19595 R + 38470 G + 7471 B + 0x8000) >> 16}
 * (PIL's integer ITU-R 601 weights). Gray and RGB samples are read from the raster, not through
 * {@link BufferedImage#getRGB}, which color-manages (Java's gray is linear: its values would change). Gray images for
 * a one-channel model and RGB images for a three-channel model keep their values (16-bit gray at full precision).
 *
 * <p>Differences from PIL: PIL clips 16-bit gray above 255 (nearly white), here it keeps its high byte as PIL does
 * for 16-bit RGB; CMYK and YCCK JPEGs are converted by the TwelveMonkeys JPEG plugin: within 1 of PIL's naive
 * formula when the file has no ICC profile (on Linux: on macOS the plugin applies the system's generic CMYK profile),
 * color-managed through the profile when it has one (PIL ignores it).
 */
final class ImageReader {
    /**
     * The most pixels an image may declare (64 megapixels, e.g. 8000×8000): decoding allocates width × height × 4
     * bytes or more before any resize, so a small file declaring 30000×30000 would exhaust the heap.
     */
    static final long MAX_PIXELS = 64_000_000L;

    /** Pixels are read from BufferedImages: keep DJL's AWT factory even if OpenCV's joins the classpath. */
    private final ImageFactory factory =
            ImageFactory.getInstance() instanceof BufferedImageFactory awt ? awt : new BufferedImageFactory();
    private final Size resize;
    private final Size out;
    private final int channels;
    private final boolean scaled;
    private final boolean nchw;
    private final float[] mean;
    private final float[] std;

    ImageReader(Preprocessing spec) {
        this.resize = spec.resize();
        this.out = spec.outputSize();
        this.channels = spec.channels();
        this.scaled = spec.scaled();
        this.nchw = spec.layout() == Preprocessing.Layout.NCHW;
        this.mean = perChannel(spec.mean(), channels);
        this.std = perChannel(spec.std(), channels);
    }

    private static float[] perChannel(float[] values, int channels) {
        float[] expanded = new float[channels];
        for (int c = 0; c < channels; c++) {
            expanded[c] = values.length == 1 ? values[0] : values[c];
        }
        return expanded;
    }

    /**
     * Decodes {@code file} and writes it as sample {@code index} of {@code batch}.
     *
     * @return the conversion it needed, {@code "<kind>-><rgb|luma>"} (kinds: gray, gray16, graya, palette, rgb, rgb16,
     *     rgba, cmyk), or null when the image already had the model's channels
     */
    String read(Path file, float[] batch, int index) {
        Decoded decoded = decode(file);
        BufferedImage image = decoded.image();
        String kind = decoded.kind();
        String conversion = switch (kind) {
            case "rgb" -> channels == 3 ? null : "rgb->luma";
            case "gray", "gray16" -> channels == 1 ? null : kind + "->rgb";
            default -> kind + (channels == 1 ? "->luma" : "->rgb");
        };
        // Gray (with or without alpha) for a one-channel model is written from its raster as it is.
        boolean keepGray = channels == 1 && isComponentGray(image);
        boolean resized = image.getWidth() != resize.width() || image.getHeight() != resize.height();
        if (!keepGray || resized) {
            // Also before resizing kept gray: DJL's resize draws into a new image of the same type, so gray would be
            // color-converted, palettes requantized and TYPE_CUSTOM (e.g. gray+alpha, 16-bit) rejected.
            image = toRgb(image);
        }
        Image pixels = factory.fromImage(image);
        if (resized) {
            pixels = pixels.resize(resize.width(), resize.height(), false);
        }
        if (!out.equals(resize)) {
            pixels = pixels.getSubImage(
                    (resize.width() - out.width()) / 2,
                    (resize.height() - out.height()) / 2,
                    out.width(),
                    out.height());
        }
        write((BufferedImage) pixels.getWrappedImage(), batch, index);
        return conversion;
    }

    /** A decoded image and its kind, as named in the conversion counts. */
    private record Decoded(BufferedImage image, String kind) {}

    /**
     * Decodes through ImageIO directly rather than DJL's {@code fromFile}: the JPEG plugin hands CMYK over already
     * converted to RGB, and only the reader still knows the file held CMYK.
     */
    private static Decoded decode(Path file) {
        long size;
        try {
            size = Files.size(file);
        } catch (IOException e) {
            throw DataFiles.readError(file, e);
        }
        if (size == 0) {
            throw CompressException.badInput(file, "cannot decode image (empty file)");
        }
        BufferedImage image;
        boolean cmyk;
        try (ImageInputStream in = ImageIO.createImageInputStream(file.toFile())) {
            Iterator<javax.imageio.ImageReader> readers = ImageIO.getImageReaders(in);
            if (!readers.hasNext()) {
                throw CompressException.badInput(file, "cannot decode image (unknown format)");
            }
            javax.imageio.ImageReader reader = readers.next();
            try {
                reader.setInput(in, true, true);
                // the header's dimensions, read before decoding allocates them
                long pixels = (long) reader.getWidth(0) * reader.getHeight(0);
                if (pixels > MAX_PIXELS) {
                    throw CompressException.badInput(file, "image declares " + reader.getWidth(0) + "x"
                            + reader.getHeight(0) + " pixels, more than the limit of " + MAX_PIXELS / 1_000_000
                            + " megapixels; resize it first");
                }
                ImageTypeSpecifier raw = reader.getRawImageType(0);
                cmyk = raw != null && raw.getColorModel().getColorSpace().getType() == ColorSpace.TYPE_CMYK;
                image = reader.read(0);
            } finally {
                reader.dispose();
            }
        } catch (CompressException e) {
            throw e;
        } catch (IOException | RuntimeException e) {
            // Some ImageIO decoders fail on corrupt data with unchecked exceptions.
            throw CompressException.badInput(file, "cannot decode image (" + describe(e) + ")", e);
        }
        return new Decoded(image, cmyk ? "cmyk" : kind(image, file));
    }

    private static String describe(Throwable e) {
        StringBuilder text = new StringBuilder(e.getMessage() != null ? e.getMessage() : e.getClass().getSimpleName());
        for (Throwable cause = e.getCause(); cause != null && cause != e; cause = cause.getCause()) {
            if (cause.getMessage() != null) {
                text.append(": ").append(cause.getMessage());
            }
        }
        return DataFiles.oneLine(text.toString());
    }

    /** gray, gray16, graya, palette, rgb, rgb16 or rgba. */
    private static String kind(BufferedImage image, Path file) {
        ColorModel model = image.getColorModel();
        if (model instanceof IndexColorModel) {
            return "palette";
        }
        boolean wide = model.getComponentSize(0) > 8;
        return switch (model.getColorSpace().getType()) {
            case ColorSpace.TYPE_GRAY -> model.hasAlpha() ? "graya" : wide ? "gray16" : "gray";
            case ColorSpace.TYPE_RGB -> model.hasAlpha() ? "rgba" : wide ? "rgb16" : "rgb";
            default -> throw CompressException.badInput(file, "cannot decode image (color space type "
                    + model.getColorSpace().getType() + " is neither gray nor RGB)");
        };
    }

    /** A gray image stored as samples (not a palette): its values must be read from the raster. */
    private static boolean isComponentGray(BufferedImage image) {
        ColorModel model = image.getColorModel();
        return !(model instanceof IndexColorModel) && model.getColorSpace().getType() == ColorSpace.TYPE_GRAY;
    }

    /**
     * The image as TYPE_INT_RGB with 8-bit values, converted as PIL's {@code convert("RGB")} does; for a one-channel
     * model R = G = B = the luma PIL's {@code convert("L")} gives.
     */
    private BufferedImage toRgb(BufferedImage image) {
        int w = image.getWidth();
        int h = image.getHeight();
        int[] rgb;
        if (image.getColorModel() instanceof IndexColorModel) {
            rgb = image.getRGB(0, 0, w, h, null, 0, w); // palette entries as they are
        } else {
            Raster raster = image.getRaster();
            ColorModel model = image.getColorModel();
            int[][] bands = new int[isComponentGray(image) ? 1 : 3][];
            for (int b = 0; b < bands.length; b++) {
                bands[b] = raster.getSamples(0, 0, w, h, b, (int[]) null);
                int bits = model.getComponentSize(b);
                for (int i = 0; i < bands[b].length; i++) {
                    bands[b][i] = to8Bits(bands[b][i], bits);
                }
            }
            rgb = new int[w * h];
            for (int i = 0; i < rgb.length; i++) {
                rgb[i] = bands.length == 1
                        ? bands[0][i] * 0x010101
                        : bands[0][i] << 16 | bands[1][i] << 8 | bands[2][i];
            }
        }
        if (channels == 1 && !isComponentGray(image)) {
            for (int i = 0; i < rgb.length; i++) {
                int p = rgb[i];
                int luma = ((p >> 16 & 0xFF) * 19595 + (p >> 8 & 0xFF) * 38470 + (p & 0xFF) * 7471 + 0x8000) >> 16;
                rgb[i] = luma * 0x010101;
            }
        }
        BufferedImage converted = new BufferedImage(w, h, BufferedImage.TYPE_INT_RGB);
        converted.setRGB(0, 0, w, h, rgb, 0, w);
        return converted;
    }

    /** As PIL: 16-bit samples keep their high byte; fewer bits (5-6-5 BMP) stretch to 0..255, rounding down. */
    private static int to8Bits(int sample, int bits) {
        return bits >= 8 ? sample >> (bits - 8) : sample * 255 / ((1 << bits) - 1);
    }

    private static int maxSample(BufferedImage image) {
        return (1 << image.getColorModel().getComponentSize(0)) - 1;
    }

    private void write(BufferedImage image, float[] batch, int index) {
        int w = out.width();
        int h = out.height();
        int pixels = w * h;
        int base = index * pixels * channels;
        if (isComponentGray(image)) {
            // One channel: NCHW and NHWC place the pixels identically.
            int[] samples = image.getRaster().getSamples(0, 0, w, h, 0, (int[]) null);
            int max = maxSample(image);
            for (int p = 0; p < pixels; p++) {
                batch[base + p] = normalize(samples[p], max, 0);
            }
            return;
        }
        int[] rgb = image.getRGB(0, 0, w, h, null, 0, w);
        for (int p = 0; p < pixels; p++) {
            int argb = rgb[p];
            for (int c = 0; c < channels; c++) {
                // One channel here means replicated gray or luma: R = G = B, so blue serves.
                int shift = channels == 1 ? 0 : 16 - 8 * c;
                int offset = nchw ? c * pixels + p : p * channels + c;
                batch[base + offset] = normalize((argb >> shift) & 0xFF, 255, c);
            }
        }
    }

    /** Writes raw 8-bit gray pixels ({@code height*width} bytes at {@code offset}) as sample {@code index}. */
    void readGray(byte[] pixels, int offset, float[] batch, int index) {
        int count = out.width() * out.height();
        int base = index * count;
        for (int p = 0; p < count; p++) {
            batch[base + p] = normalize(pixels[offset + p] & 0xFF, 255, 0);
        }
    }

    /** {@code (sample / max - mean) / std}, or with {@code sample * 255 / max} when not scaling to [0,1]. */
    private float normalize(int sample, int max, int channel) {
        float value = scaled ? sample / (float) max : sample * 255f / max;
        return (value - mean[channel]) / std[channel];
    }
}
