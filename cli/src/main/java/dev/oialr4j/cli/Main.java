package dev.oialr4j.cli;

import dev.oialr4j.analysis.AnalysisException;
import dev.oialr4j.backend.Backends;
import dev.oialr4j.data.DataException;
import dev.oialr4j.io.FormatException;
import java.io.PrintWriter;
import java.io.UncheckedIOException;
import picocli.CommandLine;
import picocli.CommandLine.Command;

/** Entry point of the {@code oialr4j} command. */
@Command(name = "oialr4j", mixinStandardHelpOptions = true, version = "oialr4j 0.1.0",
        description = "Train low-rank neural networks with OIALR.",
        subcommands = {TrainCommand.class, CompareCommand.class, AnalyzeCommand.class, CommandLine.HelpCommand.class})
public final class Main implements Runnable {

    public static void main(String[] args) {
        System.exit(run(args));
    }

    /** Runs the command line and returns the exit code (0 ok, 1 failure, 2 usage error). */
    public static int run(String... args) {
        CommandLine cli = new CommandLine(new Main());
        cli.setParameterExceptionHandler((ex, a) -> {
            PrintWriter err = ex.getCommandLine().getErr();
            err.println("oialr4j: " + ex.getMessage() + " (see 'oialr4j "
                    + ex.getCommandLine().getCommandName() + " --help').");
            err.flush();
            return 2;
        });
        cli.setExecutionExceptionHandler((ex, commandLine, parsed) -> {
            PrintWriter err = commandLine.getErr();
            err.println("oialr4j: " + userMessage(ex));
            err.flush();
            if (!(ex instanceof DataException || ex instanceof UsageException
                    || ex instanceof Backends.UnavailableException || ex instanceof UncheckedIOException
                    || ex instanceof FormatException || ex instanceof AnalysisException)) {
                // Not a user error: keep the trace for the bug report.
                ex.printStackTrace(err);
            }
            return 1;
        });
        return cli.execute(args);
    }

    static String userMessage(Throwable ex) {
        String m = ex.getMessage();
        return m == null || m.isBlank() ? ex.getClass().getSimpleName() : m;
    }

    @Override
    public void run() {
        new CommandLine(this).usage(System.out);
    }

    /** A user-caused problem with one clear sentence as its message. */
    static final class UsageException extends RuntimeException {
        UsageException(String message) {
            super(message);
        }
    }
}
