package dev.compress.data;

import java.awt.Transparency;
import java.awt.color.ColorSpace;
import java.awt.image.BufferedImage;
import java.awt.image.ComponentColorModel;
import java.awt.image.DataBuffer;
import java.awt.image.WritableRaster;
import java.awt.image.IndexColorModel;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import javax.imageio.ImageIO;

/** Writes small real PNG files with known pixel values for the dataset tests. */
final class TestImages {
    private TestImages() {}

    /** An 8-bit gray PNG; {@code values} row by row. */
    static Path gray(Path file, int width, int height, int... values) {
        BufferedImage image = new BufferedImage(width, height, BufferedImage.TYPE_BYTE_GRAY);
        image.getRaster().setSamples(0, 0, width, height, 0, values);
        return write(image, file);
    }

    /** A gray PNG of one value. */
    static Path uniformGray(Path file, int width, int height, int value) {
        int[] values = new int[width * height];
        Arrays.fill(values, value);
        return gray(file, width, height, values);
    }

    /** A 16-bit gray PNG; {@code values} in 0..65535 row by row. */
    static Path gray16(Path file, int width, int height, int... values) {
        BufferedImage image = new BufferedImage(width, height, BufferedImage.TYPE_USHORT_GRAY);
        image.getRaster().setSamples(0, 0, width, height, 0, values);
        return write(image, file);
    }

    /** A gray PNG with an alpha channel (read back as TYPE_CUSTOM), fully opaque. */
    static Path grayAlpha(Path file, int width, int height, int... values) {
        int[] opaque = new int[width * height];
        Arrays.fill(opaque, 255);
        return grayAlpha(file, width, height, values, opaque);
    }

    /** A gray PNG with an alpha channel; {@code values} and {@code alpha} row by row. */
    static Path grayAlpha(Path file, int width, int height, int[] values, int[] alpha) {
        ComponentColorModel model = new ComponentColorModel(ColorSpace.getInstance(ColorSpace.CS_GRAY), true, false,
                Transparency.TRANSLUCENT, DataBuffer.TYPE_BYTE);
        WritableRaster raster = model.createCompatibleWritableRaster(width, height);
        raster.setSamples(0, 0, width, height, 0, values);
        raster.setSamples(0, 0, width, height, 1, alpha);
        return write(new BufferedImage(model, raster, false, null), file);
    }

    /** An RGB PNG; {@code rgb} as 0xRRGGBB row by row. */
    static Path rgb(Path file, int width, int height, int... rgb) {
        BufferedImage image = new BufferedImage(width, height, BufferedImage.TYPE_INT_RGB);
        image.setRGB(0, 0, width, height, rgb, 0, width);
        return write(image, file);
    }

    /** An RGBA PNG (written from TYPE_INT_ARGB); {@code argb} as 0xAARRGGBB row by row. */
    static Path argb(Path file, int width, int height, int... argb) {
        BufferedImage image = new BufferedImage(width, height, BufferedImage.TYPE_INT_ARGB);
        image.setRGB(0, 0, width, height, argb, 0, width);
        return write(image, file);
    }

    /** A 16-bit RGB PNG; {@code samples} as r, g, b in 0..65535, pixel by pixel, row by row. */
    static Path rgb16(Path file, int width, int height, int... samples) {
        ComponentColorModel model = new ComponentColorModel(ColorSpace.getInstance(ColorSpace.CS_sRGB), false, false,
                Transparency.OPAQUE, DataBuffer.TYPE_USHORT);
        WritableRaster raster = model.createCompatibleWritableRaster(width, height);
        raster.setPixels(0, 0, width, height, samples);
        return write(new BufferedImage(model, raster, false, null), file);
    }

    /** A palette PNG whose palette holds only grays; {@code indices} row by row, index i is gray level i * 16. */
    static Path grayPalette(Path file, int width, int height, int... indices) {
        int[] levels = new int[16];
        for (int i = 0; i < 16; i++) {
            levels[i] = 0xFF000000 | i * 16 * 0x010101;
        }
        return palette(file, width, height, levels, indices);
    }

    /**
     * A palette PNG; {@code argb} the palette as 0xAARRGGBB (an alpha below 255 is written as a tRNS chunk),
     * {@code indices} row by row.
     */
    static Path palette(Path file, int width, int height, int[] argb, int... indices) {
        IndexColorModel palette = new IndexColorModel(8, argb.length, argb, 0, true, -1, DataBuffer.TYPE_BYTE);
        BufferedImage image = new BufferedImage(width, height, BufferedImage.TYPE_BYTE_INDEXED, palette);
        image.getRaster().setSamples(0, 0, width, height, 0, indices);
        return write(image, file);
    }

    private static Path write(BufferedImage image, Path file) {
        try {
            Files.createDirectories(file.toAbsolutePath().getParent());
            if (!ImageIO.write(image, "png", file.toFile())) {
                throw new IllegalStateException("no PNG writer");
            }
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        return file;
    }
}
