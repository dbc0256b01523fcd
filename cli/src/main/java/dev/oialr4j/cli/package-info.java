/** The {@code oialr4j} command line (picocli): user errors become one sentence and a non-zero exit. */
package dev.oialr4j.cli;
