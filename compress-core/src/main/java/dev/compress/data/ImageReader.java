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
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;

/**
 * Decodes one image file through DJL's image API and writes it, preprocessed, into a batch array.
 *
 * <p>Pixels are read from the {@link BufferedImage} itself (no DJL engine is needed): gray images from their raster,
 * because {@link BufferedImage#getRGB} converts linear gray to sRGB and changes the values; color and palette images
 * through {@code getRGB}, which is exact for them. Alpha is ignored.
 */
final class ImageReader {
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

    /** Decodes {@code file} and writes it as sample {@code index} of {@code batch}. */
    void read(Path file, float[] batch, int index) {
        Image image = decode(file);
        BufferedImage decoded = (BufferedImage) image.getWrappedImage();
        int imageChannels = colorChannels(decoded);
        if (imageChannels != channels) {
            throw CompressException.badInput(file, "has " + describe(imageChannels) + ", the model input expects "
                    + channels + " (" + (channels == 1 ? "grayscale" : "RGB") + "); convert the images or pass "
                    + "--channels");
        }
        if (decoded.getWidth() != resize.width() || decoded.getHeight() != resize.height()) {
            // DJL's resize draws into a new image of the same type: gray would be color-converted, palettes
            // requantized and TYPE_CUSTOM (e.g. gray+alpha, 16-bit) rejected; plain RGB comes out exact.
            image = factory.fromImage(toRgb(decoded)).resize(resize.width(), resize.height(), false);
        }
        if (!out.equals(resize)) {
            image = image.getSubImage(
                    (resize.width() - out.width()) / 2,
                    (resize.height() - out.height()) / 2,
                    out.width(),
                    out.height());
        }
        write((BufferedImage) image.getWrappedImage(), batch, index);
    }

    private Image decode(Path file) {
        long size;
        try {
            size = Files.size(file);
        } catch (IOException e) {
            throw DataFiles.readError(file, e);
        }
        if (size == 0) {
            throw CompressException.badInput(file, "cannot decode image (empty file)");
        }
        try {
            return factory.fromFile(file);
        } catch (IOException e) {
            // DJL throws a plain IOException when no ImageIO reader knows the format; decoders throw subclasses.
            String reason = e.getClass() == IOException.class ? "unknown format" : describe(e);
            throw CompressException.badInput(file, "cannot decode image (" + reason + ")", e);
        } catch (RuntimeException e) {
            // Some ImageIO decoders fail on corrupt data with unchecked exceptions.
            throw CompressException.badInput(file, "cannot decode image (" + describe(e) + ")", e);
        }
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

    private static String describe(int imageChannels) {
        return imageChannels == 1 ? "1 color channel (grayscale)" : "3 color channels (RGB)";
    }

    /** 1 for gray images and palettes of only grays, else 3; alpha does not count. */
    private static int colorChannels(BufferedImage image) {
        ColorModel model = image.getColorModel();
        if (model instanceof IndexColorModel palette) {
            for (int i = 0; i < palette.getMapSize(); i++) {
                int r = palette.getRed(i);
                if (r != palette.getGreen(i) || r != palette.getBlue(i)) {
                    return 3;
                }
            }
            return 1;
        }
        return isComponentGray(image) ? 1 : 3;
    }

    /** A gray image stored as samples (not a palette): its values must be read from the raster. */
    private static boolean isComponentGray(BufferedImage image) {
        ColorModel model = image.getColorModel();
        return !(model instanceof IndexColorModel) && model.getColorSpace().getType() == ColorSpace.TYPE_GRAY;
    }

    /** The image as TYPE_INT_RGB with the same 8-bit values; gray is replicated to R, G and B. */
    private static BufferedImage toRgb(BufferedImage image) {
        int w = image.getWidth();
        int h = image.getHeight();
        int[] rgb;
        if (isComponentGray(image)) {
            rgb = image.getRaster().getSamples(0, 0, w, h, 0, (int[]) null);
            int max = maxSample(image);
            for (int i = 0; i < rgb.length; i++) {
                int v = max == 255 ? rgb[i] : Math.round(rgb[i] * 255f / max);
                rgb[i] = v << 16 | v << 8 | v;
            }
        } else {
            rgb = image.getRGB(0, 0, w, h, null, 0, w);
        }
        BufferedImage converted = new BufferedImage(w, h, BufferedImage.TYPE_INT_RGB);
        converted.setRGB(0, 0, w, h, rgb, 0, w);
        return converted;
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
                // One channel here means a gray palette or replicated gray: R = G = B, so blue serves.
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
