package dev.compress.recipe;

import dev.compress.CompressException;
import java.awt.BasicStroke;
import java.awt.Color;
import java.awt.Font;
import java.io.IOException;
import java.util.ArrayList;
import java.util.Base64;
import java.util.List;
import java.util.Locale;
import org.knowm.xchart.BitmapEncoder;
import org.knowm.xchart.CategoryChart;
import org.knowm.xchart.CategoryChartBuilder;
import org.knowm.xchart.XYChart;
import org.knowm.xchart.XYChartBuilder;
import org.knowm.xchart.XYSeries;
import org.knowm.xchart.internal.chartpart.Chart;
import org.knowm.xchart.style.AxesChartStyler;
import org.knowm.xchart.style.Styler;
import org.knowm.xchart.style.markers.SeriesMarkers;

/**
 * The HTML report's charts, drawn by XChart into PNG bytes and inlined as {@code data:} URIs. The same figures give
 * the same bytes on the same machine: nothing random, no time stamps; text is drawn with the system's fonts.
 */
final class ReportCharts {
    static final Color SOURCE = new Color(0x8a8a8a);
    static final Color MODEL = new Color(0x3b6ea5);
    static final Color BASELINE = new Color(0xe0a030);
    static final Color CLIP = new Color(0xc0392b);

    private ReportCharts() {}

    /** {@code data:image/png;base64,...} of the chart. */
    static String dataUri(Chart<?, ?> chart) {
        System.setProperty("java.awt.headless", "true"); // no display is needed (or wanted) to draw into an image
        try {
            return "data:image/png;base64," + Base64.getEncoder().encodeToString(
                    BitmapEncoder.getBitmapBytes(chart, BitmapEncoder.BitmapFormat.PNG));
        } catch (IOException e) {
            throw CompressException.internal("cannot draw the chart '" + chart.getTitle() + "'", e);
        }
    }

    private static void style(Styler styler) {
        if (styler instanceof AxesChartStyler axes) {
            axes.setLocale(Locale.ROOT); // tick labels in the same digits whatever the machine's locale
        }
        styler.setChartBackgroundColor(Color.WHITE);
        styler.setPlotBackgroundColor(Color.WHITE);
        styler.setPlotBorderVisible(false);
        styler.setAntiAlias(true);
        styler.setChartTitleFont(new Font(Font.SANS_SERIF, Font.BOLD, 15));
        styler.setLegendFont(new Font(Font.SANS_SERIF, Font.PLAIN, 12));
        styler.setLegendPosition(Styler.LegendPosition.OutsideS);
        styler.setLegendLayout(Styler.LegendLayout.Horizontal);
        styler.setLegendBorderColor(Color.WHITE);
    }

    /**
     * Per-class top-1 accuracy, grouped bars per class: the source, this run's model and (if given) the baseline's.
     *
     * @param labels one x-axis label per class
     * @param baseline the baseline's accuracies, or null
     */
    static String perClass(List<String> labels, List<Double> source, List<Double> model, List<Double> baseline) {
        CategoryChart chart = new CategoryChartBuilder().width(960).height(400)
                .title("Top-1 accuracy per class").xAxisTitle("class").yAxisTitle("top-1 (%)").build();
        style(chart.getStyler());
        chart.getStyler().setYAxisMin(Math.max(0, Math.floor(min(source, model, baseline) / 10) * 10))
                .setYAxisMax(100.0);
        List<Color> colors = new ArrayList<>(List.of(SOURCE, MODEL));
        chart.addSeries("source model", labels, source);
        chart.addSeries("this run", labels, model);
        if (baseline != null) {
            chart.addSeries("baseline", labels, baseline);
            colors.add(BASELINE);
        }
        chart.getStyler().setSeriesColors(colors.toArray(new Color[0]));
        chart.getStyler().setAvailableSpaceFill(0.8);
        return dataUri(chart);
    }

    private static double min(List<Double> a, List<Double> b, List<Double> c) {
        double min = 100;
        for (List<Double> list : List.of(a, b, c == null ? List.<Double>of() : c)) {
            for (Double v : list) {
                min = Math.min(min, v);
            }
        }
        return min;
    }

    /**
     * The worst layers' SQNR: accumulated up to the layer and the layer's own quantize-dequantize step, worst first.
     *
     * @param own null where the tensor has no QDQ pair of its own
     */
    static String sqnr(List<String> layers, List<Double> accumulated, List<Double> own, String output) {
        CategoryChart chart = new CategoryChartBuilder().width(960).height(460)
                .title("INT8 vs fp32: SQNR per layer, worst first (output " + output + ")")
                .xAxisTitle("layer (* = no weights of its own)").yAxisTitle("SQNR (dB)").build();
        style(chart.getStyler());
        chart.getStyler().setSeriesColors(new Color[] {MODEL, BASELINE});
        chart.getStyler().setXAxisLabelRotation(60);
        chart.getStyler().setAxisTickLabelsFont(new Font(Font.SANS_SERIF, Font.PLAIN, 10));
        chart.addSeries("accumulated up to the layer", layers, accumulated);
        chart.addSeries("its own quantize-dequantize step", layers, own);
        return dataUri(chart);
    }

    /** An activation histogram (log scale) with the INT8 clipping range as two vertical lines. */
    static String histogram(CheckReports.Histograms.Layer layer) {
        XYChart chart = new XYChartBuilder().width(470).height(300)
                .title(shorten(layer.node(), 48)).xAxisTitle("fp32 activation value")
                .yAxisTitle("log10(1 + count)").build();
        style(chart.getStyler());
        chart.getStyler().setChartTitleFont(new Font(Font.SANS_SERIF, Font.BOLD, 12));
        chart.getStyler().setMarkerSize(0);
        List<Double> xs = new ArrayList<>();
        List<Double> ys = new ArrayList<>();
        long[] counts = layer.counts();
        double width = (layer.high() - layer.low()) / counts.length;
        double top = 0;
        for (int i = 0; i < counts.length; i++) {
            double y = Math.log10(1 + counts[i]);
            xs.add(layer.low() + i * width);
            ys.add(y);
            top = Math.max(top, y);
        }
        xs.add(layer.high());
        ys.add(ys.get(ys.size() - 1));
        XYSeries values = chart.addSeries("values", xs, ys);
        values.setXYSeriesRenderStyle(XYSeries.XYSeriesRenderStyle.StepArea);
        values.setFillColor(new Color(0x3b6ea5));
        values.setLineColor(new Color(0x3b6ea5));
        values.setMarker(SeriesMarkers.NONE);
        XYSeries clip = chart.addSeries("INT8 range", List.of(layer.clipLow(), layer.clipLow(), layer.clipHigh(),
                layer.clipHigh()), List.of(0.0, top * 1.05, top * 1.05, 0.0));
        clip.setXYSeriesRenderStyle(XYSeries.XYSeriesRenderStyle.Line);
        clip.setLineColor(CLIP);
        clip.setLineStyle(new BasicStroke(2f));
        clip.setMarker(SeriesMarkers.NONE);
        chart.getStyler().setYAxisMin(0.0);
        chart.getStyler().setXAxisDecimalPattern("0.##");
        chart.getStyler().setYAxisDecimalPattern("0.#");
        return dataUri(chart);
    }

    /**
     * Top-1 against sparsity with 95% intervals as error bars, the step's chosen sparsity marked.
     *
     * @param sparsity in percent
     * @param top1 in percent
     * @param halfWidth half the interval's width, percent (XChart draws symmetric bars)
     */
    static String sparsity(List<Double> sparsity, List<Double> top1, List<Double> halfWidth, double chosen,
            double chosenTop1, String step) {
        XYChart chart = new XYChartBuilder().width(960).height(380)
                .title("Top-1 against sparsity (pruned as step '" + step + "', before later steps)")
                .xAxisTitle("sparsity (%)").yAxisTitle("top-1 (%)").build();
        style(chart.getStyler());
        chart.getStyler().setXAxisMin(0.0).setXAxisMax(100.0);
        chart.getStyler().setErrorBarsColor(MODEL);
        XYSeries curve = chart.addSeries("top-1 with 95% interval", sparsity, top1, halfWidth);
        curve.setMarker(SeriesMarkers.CIRCLE);
        curve.setLineColor(MODEL);
        curve.setMarkerColor(MODEL);
        XYSeries mark = chart.addSeries(String.format(Locale.ROOT, "the recipe's sparsity (%.0f%%)", chosen),
                List.of(chosen), List.of(chosenTop1));
        mark.setXYSeriesRenderStyle(XYSeries.XYSeriesRenderStyle.Scatter);
        mark.setMarker(SeriesMarkers.DIAMOND);
        mark.setMarkerColor(BASELINE);
        chart.getStyler().setMarkerSize(9);
        return dataUri(chart);
    }

    static String shorten(String text, int max) {
        return text.length() <= max ? text : "…" + text.substring(text.length() - max + 1);
    }
}
