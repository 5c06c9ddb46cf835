package dev.compress.debug;

import dev.compress.CompressException;
import dev.compress.StagedFile;
import java.awt.Color;
import java.io.IOException;
import java.io.OutputStream;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.knowm.xchart.BitmapEncoder;
import org.knowm.xchart.CategoryChart;
import org.knowm.xchart.CategoryChartBuilder;
import org.knowm.xchart.style.Styler;

/** The layer ranking as a PNG bar chart (XChart), worst layer on the left. */
final class SqnrChart {
    private static final int WIDTH = 1000;
    private static final int HEIGHT = 620;

    private SqnrChart() {}

    static void write(LayerReport report, Path file, int maxLayers) {
        // no display is needed (or wanted) to draw into an image
        System.setProperty("java.awt.headless", "true");
        List<String> names = new ArrayList<>();
        List<Double> values = new ArrayList<>();
        List<Double> own = new ArrayList<>();
        for (LayerReport.Layer layer : report.layers()) {
            if (names.size() == maxLayers) {
                break;
            }
            if (layer.sqnrDb() != null) {
                names.add(layer.node() + (layer.excludable() ? "" : " *"));
                values.add(layer.sqnrDb());
                own.add(layer.ownSqnrDb()); // null (no bar) for tensors without their own QDQ pair
            }
        }
        CategoryChart chart = new CategoryChartBuilder().width(WIDTH).height(HEIGHT)
                .title("INT8 vs fp32: SQNR per layer, worst first (output " + db(report.output().sqnrDb()) + ")")
                .xAxisTitle("layer (node name for compress quantize --exclude; * = no weights, follows its inputs)")
                .yAxisTitle("SQNR (dB)").build();
        Styler styler = chart.getStyler();
        styler.setLegendPosition(Styler.LegendPosition.OutsideS);
        styler.setLegendLayout(Styler.LegendLayout.Horizontal);
        styler.setChartBackgroundColor(Color.WHITE);
        styler.setSeriesColors(new Color[] {new Color(0x3b6ea5), new Color(0xe0a030)});
        chart.getStyler().setXAxisLabelRotation(60);
        chart.getStyler().setAntiAlias(true);
        if (names.isEmpty()) {
            names.add("(all layers exact)");
            values.add(0.0);
            own.add(null);
        }
        chart.addSeries("accumulated up to this layer", names, values);
        chart.addSeries("own quantize-dequantize step", names, own);
        try (StagedFile staged = StagedFile.create(file)) {
            try (OutputStream out = staged.open()) {
                BitmapEncoder.saveBitmap(chart, out, BitmapEncoder.BitmapFormat.PNG);
            }
            staged.commit();
        } catch (IOException e) {
            throw CompressException.badInput(file, "cannot write (" + e.getMessage() + ")", e);
        }
    }

    private static String db(Double value) {
        return value == null ? "exact" : String.format(java.util.Locale.ROOT, "%.1f dB", value);
    }
}
