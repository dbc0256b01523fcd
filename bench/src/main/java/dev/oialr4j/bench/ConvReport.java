package dev.oialr4j.bench;

import dev.oialr4j.backend.Conv2dGeometry;
import java.util.Collection;
import java.util.Locale;
import org.openjdk.jmh.results.RunResult;
import org.openjdk.jmh.runner.Runner;
import org.openjdk.jmh.runner.RunnerException;
import org.openjdk.jmh.runner.options.CommandLineOptionException;
import org.openjdk.jmh.runner.options.CommandLineOptions;
import org.openjdk.jmh.runner.options.OptionsBuilder;

/**
 * Runs {@link ConvBenchmark} through JMH's API and prints GFLOP/s per shape and implementation in Markdown.
 * Arguments are JMH options (e.g. {@code -p shape=64x8 -f 1 -wi 1 -i 1}).
 */
public final class ConvReport {

    private ConvReport() {
    }

    public static void main(String[] args) throws RunnerException, CommandLineOptionException {
        var cmd = new CommandLineOptions(args);
        var builder = new OptionsBuilder().parent(cmd);
        if (cmd.getIncludes().isEmpty()) {
            builder.include("dev\\.oialr4j\\.bench\\.ConvBenchmark\\.");
        }
        Collection<RunResult> results = new Runner(builder.build()).run();
        System.out.println();
        System.out.println("Conv2d 3x3 forward + backward, GFLOP/s (3 x 2 x forward multiply-adds per op)\n");
        System.out.println("| shape (C -> C, S x S) | batch | threads | implementation | ms/op | GFLOP/s |");
        System.out.println("|---|---|---|---|---|---|");
        for (RunResult r : results) {
            String method = r.getParams().getBenchmark();
            method = method.substring(method.lastIndexOf('.') + 1);
            String shape = r.getParams().getParam("shape");
            int batch = Integer.parseInt(r.getParams().getParam("batch"));
            Conv2dGeometry g = ConvBenchmark.geometry(shape, batch);
            double opsPerSecond = r.getPrimaryResult().getScore();
            double gflops = opsPerSecond * 6.0 * g.macs() / 1e9;
            System.out.printf(Locale.ROOT, "| %s | %d | %s | %s | %.1f | %.1f |%n", shape, batch,
                    method.equals("naive") ? "1" : r.getParams().getParam("threads"), method, 1000 / opsPerSecond,
                    gflops);
        }
    }
}
