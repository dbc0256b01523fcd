package dev.oialr4j.io;

import java.io.BufferedWriter;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.Map;

/**
 * A run's output folder: {@code config.json} (settings), {@code metrics.jsonl} (one JSON object per line,
 * appended and flushed as training goes, so a crashed run keeps what it logged) and {@code summary.json}.
 */
public final class RunDirectory implements AutoCloseable {

    private final Path dir;
    private final BufferedWriter metrics;

    private RunDirectory(Path dir) throws IOException {
        this(dir, false);
    }

    private RunDirectory(Path dir, boolean append) throws IOException {
        this.dir = dir;
        Files.createDirectories(dir);
        this.metrics = Files.newBufferedWriter(dir.resolve("metrics.jsonl"), StandardCharsets.UTF_8,
                StandardOpenOption.CREATE, append ? StandardOpenOption.APPEND : StandardOpenOption.TRUNCATE_EXISTING,
                StandardOpenOption.WRITE);
    }

    /** Creates (or reuses) {@code dir}; an existing metrics file is replaced. */
    public static RunDirectory create(Path dir) {
        try {
            return new RunDirectory(dir);
        } catch (IOException e) {
            throw new UncheckedIOException("cannot create run directory " + dir + ": " + e.getMessage(), e);
        }
    }

    public Path path() {
        return dir;
    }

    public void writeConfig(Map<String, ?> config) {
        writeJson("config.json", config);
    }

    public void writeSummary(Map<String, ?> summary) {
        writeJson("summary.json", summary);
    }

    /** Appends one record to metrics.jsonl and flushes it. */
    public synchronized void appendMetrics(Map<String, ?> record) {
        try {
            metrics.write(Json.write(record));
            metrics.newLine();
            metrics.flush();
        } catch (IOException e) {
            throw new UncheckedIOException("cannot write " + dir.resolve("metrics.jsonl") + ": " + e.getMessage(), e);
        }
    }

    private void writeJson(String name, Map<String, ?> value) {
        writeJson(dir.resolve(name), value);
    }

    /** Writes one JSON document to {@code p}, creating its folder. */
    public static void writeJson(Path p, Map<String, ?> value) {
        try {
            if (p.getParent() != null) {
                Files.createDirectories(p.getParent());
            }
            Files.writeString(p, Json.write(value) + "\n", StandardCharsets.UTF_8);
        } catch (IOException e) {
            throw new UncheckedIOException("cannot write " + p + ": " + e.getMessage(), e);
        }
    }

    @Override
    public void close() {
        try {
            metrics.close();
        } catch (IOException e) {
            throw new UncheckedIOException("cannot close " + dir.resolve("metrics.jsonl") + ": " + e.getMessage(), e);
        }
    }

    /**
     * Reopens an existing run directory to continue a run whose checkpoint holds {@code epochsDone} epochs:
     * metrics.jsonl keeps its lines up to that epoch (lines a crashed run logged after its checkpoint are
     * dropped, so no epoch appears twice) and new lines are appended.
     */
    public static RunDirectory resume(Path dir, int epochsDone) {
        Path file = dir.resolve("metrics.jsonl");
        try {
            if (Files.exists(file)) {
                java.util.List<String> kept = new java.util.ArrayList<>();
                for (String line : Files.readAllLines(file, StandardCharsets.UTF_8)) {
                    if (line.isBlank()) {
                        continue;
                    }
                    Object epoch;
                    try {
                        epoch = Json.parseObject(line).get("epoch");
                    } catch (IllegalArgumentException e) {
                        continue; // a line cut off by the crash
                    }
                    if (!(epoch instanceof Number n) || n.longValue() <= epochsDone) {
                        kept.add(line);
                    }
                }
                Files.write(file, kept, StandardCharsets.UTF_8);
            }
            return new RunDirectory(dir, true);
        } catch (IOException e) {
            throw new UncheckedIOException("cannot reopen run directory " + dir + ": " + e.getMessage(), e);
        }
    }
}
