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
        ComponentColorModel model = new ComponentColorModel(ColorSpace.getInstance(ColorSpace.CS_GRAY), true, false,
                Transparency.TRANSLUCENT, DataBuffer.TYPE_BYTE);
        WritableRaster raster = model.createCompatibleWritableRaster(width, height);
        raster.setSamples(0, 0, width, height, 0, values);
        int[] opaque = new int[width * height];
        Arrays.fill(opaque, 255);
        raster.setSamples(0, 0, width, height, 1, opaque);
        return write(new BufferedImage(model, raster, false, null), file);
    }

    /** An RGB PNG; {@code rgb} as 0xRRGGBB row by row. */
    static Path rgb(Path file, int width, int height, int... rgb) {
        BufferedImage image = new BufferedImage(width, height, BufferedImage.TYPE_INT_RGB);
        image.setRGB(0, 0, width, height, rgb, 0, width);
        return write(image, file);
    }

    /** A palette PNG whose palette holds only grays; {@code indices} row by row, index i is gray level i * 16. */
    static Path grayPalette(Path file, int width, int height, int... indices) {
        byte[] levels = new byte[16];
        for (int i = 0; i < 16; i++) {
            levels[i] = (byte) (i * 16);
        }
        IndexColorModel palette = new IndexColorModel(8, 16, levels, levels, levels);
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
