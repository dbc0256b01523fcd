package dev.oialr4j.cli;

import dev.oialr4j.analysis.RunAnalysis;
import java.awt.Color;
import java.awt.Font;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import org.knowm.xchart.BitmapEncoder;
import org.knowm.xchart.HeatMapChart;
import org.knowm.xchart.HeatMapChartBuilder;
import org.knowm.xchart.XYChart;
import org.knowm.xchart.XYChartBuilder;
import org.knowm.xchart.internal.chartpart.Chart;
import org.knowm.xchart.style.Styler;
import org.knowm.xchart.style.markers.SeriesMarkers;

/**
 * The pictures of {@code oialr4j analyze}, drawn with XChart: heat maps in the style of the paper's
 * Figure 1 (one row per layer, input layer at the top, the mean over layers in the bottom row, one
 * column per epoch, a colour bar beside) and line charts of a run's per-epoch records.
 */
final class AnalysisCharts {

    static final int HEAT_WIDTH = 1000;
    static final int HEAT_HEIGHT = 620;
    static final int LINE_WIDTH = 800;
    static final int LINE_HEIGHT = 500;

    /**
     * Red (low: the layer moved) through yellow to green (high: unchanged); light enough in the middle and
     * moderate at the ends that the black cell values stay readable on every colour.
     */
    private static final Color[] RAMP = {new Color(0xd7, 0x30, 0x27), new Color(0xfc, 0x8d, 0x59),
        new Color(0xfe, 0xe0, 0x8b), new Color(0xd9, 0xef, 0x8b), new Color(0x66, 0xbd, 0x63)};

    private AnalysisCharts() {
    }

    /**
     * A heat map of {@code values[layer][column]} with its mean row. Cells without a value (a layer that
     * did not exist, or changed shape, at one end of the pair) are left blank.
     */
    static HeatMapChart heatMap(String title, RunAnalysis.Result r, double[][] values, double[] mean) {
        HeatMapChart chart = new HeatMapChartBuilder().width(HEAT_WIDTH).height(HEAT_HEIGHT).title(title)
                .xAxisTitle("epoch (compared with epoch − " + r.lag() + ")").yAxisTitle("layer").build();
        List<String> x = new ArrayList<>();
        for (int e : r.epochs()) {
            x.add(Integer.toString(e));
        }
        // XChart puts y index 0 at the bottom: the mean first, then the layers from the output side up.
        List<String> y = new ArrayList<>();
        y.add("mean");
        int layers = r.layers().size();
        for (int i = layers - 1; i >= 0; i--) {
            y.add(r.layers().get(i));
        }
        List<Number[]> cells = new ArrayList<>();
        double lo = Double.POSITIVE_INFINITY;
        double hi = Double.NEGATIVE_INFINITY;
        for (int j = 0; j < x.size(); j++) {
            if (!Double.isNaN(mean[j])) {
                cells.add(new Number[] {j, 0, mean[j]});
            }
            for (int i = 0; i < layers; i++) {
                double v = values[i][j];
                if (!Double.isNaN(v)) {
                    cells.add(new Number[] {j, layers - i, v});
                    lo = Math.min(lo, v);
                    hi = Math.max(hi, v);
                }
            }
        }
        if (lo > hi) {
            lo = 0;
            hi = 1;
        }
        // A colour scale from a little below the smallest value to 1 (unchanged), so small differences
        // near 1 stay visible, as in the paper's figure.
        double min = Math.min(Math.floor(lo * 20) / 20, 0.95);
        double max = Math.max(1.0, hi);
        chart.addSeries(title, x, y, cells);
        var st = chart.getStyler();
        st.setRangeColors(RAMP);
        st.setMin(min);
        st.setMax(max);
        st.setPiecewise(false);
        st.setLegendPosition(Styler.LegendPosition.OutsideE);
        st.setShowValue(x.size() * (layers + 1) <= 160);
        st.setValueFont(new Font(Font.SANS_SERIF, Font.PLAIN, 10));
        st.setHeatMapValueDecimalPattern("0.000");
        st.setPlotContentSize(1.0);
        st.setChartBackgroundColor(Color.WHITE);
        return chart;
    }

    /** One line per series, epochs on x; series with no points are left out. */
    static XYChart lines(String title, String yTitle, Map<String, double[][]> series) {
        XYChart chart = new XYChartBuilder().width(LINE_WIDTH).height(LINE_HEIGHT).title(title).xAxisTitle("epoch")
                .yAxisTitle(yTitle).build();
        chart.getStyler().setLegendPosition(Styler.LegendPosition.OutsideE);
        chart.getStyler().setChartBackgroundColor(Color.WHITE);
        chart.getStyler().setLegendVisible(series.size() > 1);
        for (var e : series.entrySet()) {
            double[][] xy = e.getValue();
            if (xy[0].length > 0) {
                chart.addSeries(e.getKey(), xy[0], xy[1]).setMarker(SeriesMarkers.CIRCLE);
            }
        }
        return chart;
    }

    /** Test accuracy, trainable % and per-layer ranks over epochs; ranks only once OIALR has converted. */
    static Map<String, XYChart> runCurves(List<RunAnalysis.EpochRecord> records) {
        Map<String, XYChart> out = new LinkedHashMap<>();
        List<RunAnalysis.EpochRecord> acc = records.stream().filter(r -> !Double.isNaN(r.testAccuracy())).toList();
        out.put("accuracy", lines("Test accuracy", "test accuracy (%)",
                Map.of("test accuracy", xy(acc, r -> 100 * r.testAccuracy()))));
        out.put("trainable", lines("Trainable parameters", "trainable (% of dense)",
                Map.of("trainable %", xy(records, RunAnalysis.EpochRecord::trainablePercent))));
        Map<String, double[][]> ranks = new LinkedHashMap<>();
        for (RunAnalysis.EpochRecord r : records) {
            for (String layer : r.ranks().keySet()) {
                ranks.computeIfAbsent(layer, l -> {
                    List<RunAnalysis.EpochRecord> with = records.stream().filter(x -> x.ranks().containsKey(l)).toList();
                    return xy(with, x -> x.ranks().get(l));
                });
            }
        }
        if (!ranks.isEmpty()) {
            out.put("ranks", lines("Rank per low-rank layer", "rank", ranks));
        }
        return out;
    }

    private static double[][] xy(List<RunAnalysis.EpochRecord> recs, java.util.function.ToDoubleFunction<RunAnalysis.EpochRecord> f) {
        double[][] xy = new double[2][recs.size()];
        for (int i = 0; i < recs.size(); i++) {
            xy[0][i] = recs.get(i).epoch();
            xy[1][i] = f.applyAsDouble(recs.get(i));
        }
        return xy;
    }

    static void savePng(Chart<?, ?> chart, Path file) {
        try {
            Files.createDirectories(file.toAbsolutePath().getParent());
            try (var out = Files.newOutputStream(file)) {
                BitmapEncoder.saveBitmap(chart, out, BitmapEncoder.BitmapFormat.PNG);
            }
        } catch (IOException e) {
            throw new UncheckedIOException("cannot write " + file + ": " + e.getMessage(), e);
        }
    }

    static String format(double v) {
        return Double.isNaN(v) ? "  n/a" : String.format(Locale.ROOT, "%.3f", v);
    }
}
