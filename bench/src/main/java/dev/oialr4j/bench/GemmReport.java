package dev.oialr4j.bench;

import java.util.ArrayList;
import java.util.Collection;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import org.openjdk.jmh.results.RunResult;
import org.openjdk.jmh.runner.Runner;
import org.openjdk.jmh.runner.RunnerException;
import org.openjdk.jmh.runner.options.CommandLineOptionException;
import org.openjdk.jmh.runner.options.CommandLineOptions;
import org.openjdk.jmh.runner.options.Options;
import org.openjdk.jmh.runner.options.OptionsBuilder;

/**
 * Runs the GEMM benchmarks through JMH's API and prints their scores as a GFLOP/s table in
 * Markdown. Arguments are ordinary JMH command-line options (for example {@code -p threads=1} or
 * {@code -p shape=1024x1024x1024:NN}); without a benchmark pattern it runs GemmBenchmark and
 * GemmNaiveBenchmark.
 */
public final class GemmReport {

    private GemmReport() {
    }

    public static void main(String[] args) throws RunnerException, CommandLineOptionException {
        var cmd = new CommandLineOptions(args);
        var builder = new OptionsBuilder().parent(cmd);
        if (cmd.getIncludes().isEmpty()) {
            builder.include("dev\\.oialr4j\\.bench\\.Gemm(Naive)?Benchmark\\.");
        }
        Options options = builder.build();
        Collection<RunResult> results = new Runner(options).run();
        System.out.println();
        System.out.print(table(results));
    }

    /** One row per (shape, threads), one column per implementation: GFLOP/s +- JMH's 99.9% error. */
    static String table(Collection<RunResult> results) {
        Map<String, Map<String, String>> rows = new LinkedHashMap<>();
        List<String> columns = new ArrayList<>();
        for (RunResult r : results) {
            String method = r.getParams().getBenchmark();
            method = method.substring(method.lastIndexOf('.') + 1);
            String shapeText = r.getParams().getParam("shape");
            GemmShape shape = GemmShape.parse(shapeText);
            String threads = r.getParams().getParam("threads");
            String impl = method.equals("naive") ? "naive (1 thread)"
                    : method.equals("ejml") ? "EJML (1 thread)"
                    : method.equals("ejmlMt") ? "EJML MT" : method;
            if (!columns.contains(impl)) {
                columns.add(impl);
            }
            double score = r.getPrimaryResult().getScore();
            double error = r.getPrimaryResult().getScoreError();
            double gflops = score * shape.flops() / 1e9;
            double gerr = Double.isNaN(error) ? 0 : error * shape.flops() / 1e9;
            // The naive baseline has no threads parameter; it belongs on every row of its shape.
            String key = shapeText + " | " + (threads == null ? "*" : threads);
            rows.computeIfAbsent(key, x -> new LinkedHashMap<>())
                    .put(impl, String.format(Locale.ROOT, "%.1f ± %.1f", gflops, gerr));
        }
        columns.sort((x, y) -> Integer.compare(order(x), order(y)));
        var out = new StringBuilder();
        out.append("GEMM GFLOP/s (higher is better; ± is JMH's 99.9% confidence half-width)\n\n");
        out.append("| shape (m x n x k : op(A) op(B)) | threads |");
        for (String col : columns) {
            out.append(' ').append(col).append(" |");
        }
        out.append("\n|---|---|");
        out.append("---|".repeat(columns.size()));
        out.append('\n');
        for (var row : rows.entrySet()) {
            if (row.getKey().endsWith("| *") && rows.keySet().stream()
                    .anyMatch(k -> !k.endsWith("| *") && shapeOf(k).equals(shapeOf(row.getKey())))) {
                continue;
            }
            out.append("| ").append(row.getKey().replace("| *", "| -")).append(" |");
            Map<String, String> naive = rows.getOrDefault(shapeOf(row.getKey()) + " | *", Map.of());
            for (String col : columns) {
                String cell = row.getValue().getOrDefault(col, naive.getOrDefault(col, "-"));
                out.append(' ').append(cell).append(" |");
            }
            out.append('\n');
        }
        return out.toString();
    }

    private static String shapeOf(String rowKey) {
        return rowKey.substring(0, rowKey.indexOf(" | "));
    }

    private static int order(String column) {
        return switch (column) {
            case "oialr4j" -> 0;
            case "EJML MT" -> 1;
            case "EJML (1 thread)" -> 2;
            case "naive (1 thread)" -> 3;
            default -> 4;
        };
    }
}
