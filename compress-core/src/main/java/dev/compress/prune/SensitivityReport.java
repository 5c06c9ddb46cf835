package dev.compress.prune;

import com.fasterxml.jackson.annotation.JsonPropertyOrder;
import dev.compress.CompressException;
import dev.compress.Json;
import dev.compress.StagedFile;
import java.awt.BasicStroke;
import java.awt.Color;
import java.io.IOException;
import java.io.OutputStream;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import org.knowm.xchart.BitmapEncoder;
import org.knowm.xchart.XYChart;
import org.knowm.xchart.XYChartBuilder;
import org.knowm.xchart.XYSeries;
import org.knowm.xchart.style.Styler;
import org.knowm.xchart.style.XYStyler;
import org.knowm.xchart.style.markers.SeriesMarkers;

/**
 * Top-1 accuracy against sparsity, per layer pruned alone and for the whole model pruned globally. Deterministic:
 * the same scan gives byte-identical JSON and PNG.
 *
 * @param model the model scanned
 * @param data the held-out data
 * @param samples samples per evaluation
 * @param baselineTop1 accuracy of the unpruned model
 * @param layers one curve per layer, in graph order
 * @param global the whole model at global sparsities
 */
@JsonPropertyOrder({"model", "data", "samples", "baselineTop1", "layers", "global"})
public record SensitivityReport(String model, String data, long samples, double baselineTop1,
        List<LayerCurve> layers, List<Point> global) {

    /** Accuracy at one sparsity. */
    @JsonPropertyOrder({"sparsity", "top1"})
    public record Point(double sparsity, double top1) {}

    /** One layer pruned alone. */
    @JsonPropertyOrder({"node", "op", "weight", "elements", "points"})
    public record LayerCurve(String node, String op, String weight, long elements, List<Point> points) {}

    public String toJson() {
        return Json.pretty(this);
    }

    /** A few lines for people: per layer, the accuracy at each sparsity. */
    public String summary() {
        StringBuilder text = new StringBuilder(String.format(Locale.ROOT,
                "unpruned top-1 %.2f%% on %d samples%n", 100 * baselineTop1, samples));
        for (LayerCurve layer : layers) {
            text.append(String.format(Locale.ROOT, "  %-40s", layer.node()));
            for (Point p : layer.points()) {
                text.append(String.format(Locale.ROOT, "  %2.0f%%: %5.1f", 100 * p.sparsity(), 100 * p.top1()));
            }
            text.append('\n');
        }
        text.append(String.format(Locale.ROOT, "  %-40s", "global"));
        for (Point p : global) {
            text.append(String.format(Locale.ROOT, "  %2.0f%%: %5.1f", 100 * p.sparsity(), 100 * p.top1()));
        }
        return text.append('\n').toString();
    }

    /** Writes the plot as PNG, atomically. */
    public void writePlot(Path png) {
        XYChart chart = new XYChartBuilder().width(900).height(600)
                .title("Pruning sensitivity (L1 unstructured): " + Path.of(model).getFileName())
                .xAxisTitle("sparsity (%)").yAxisTitle("top-1 accuracy (%)").build();
        XYStyler style = chart.getStyler();
        style.setLegendPosition(Styler.LegendPosition.OutsideE);
        style.setChartBackgroundColor(Color.WHITE);
        style.setXAxisMin(0.0).setXAxisMax(100.0).setYAxisMin(0.0).setYAxisMax(100.0);
        for (LayerCurve layer : layers) {
            chart.addSeries(layer.node(), xs(layer.points()), ys(layer.points()))
                    .setMarker(SeriesMarkers.CIRCLE);
        }
        XYSeries whole = chart.addSeries("global (all layers)", xs(global), ys(global));
        whole.setMarker(SeriesMarkers.SQUARE);
        whole.setMarkerColor(Color.BLACK);
        whole.setLineColor(Color.BLACK);
        whole.setLineStyle(new BasicStroke(3f));
        try (StagedFile staged = StagedFile.create(png)) {
            try (OutputStream out = staged.open()) {
                BitmapEncoder.saveBitmap(chart, out, BitmapEncoder.BitmapFormat.PNG);
            }
            staged.commit();
        } catch (IOException e) {
            throw CompressException.badInput(png, "cannot write (" + e.getMessage() + ")", e);
        }
    }

    /** Sparsities in percent, starting at 0 with the unpruned accuracy. */
    private List<Double> xs(List<Point> points) {
        List<Double> xs = new ArrayList<>(List.of(0.0));
        points.forEach(p -> xs.add(100 * p.sparsity()));
        return xs;
    }

    private List<Double> ys(List<Point> points) {
        List<Double> ys = new ArrayList<>(List.of(100 * baselineTop1));
        points.forEach(p -> ys.add(100 * p.top1()));
        return ys;
    }
}
