/**
 * Offline analysis of a finished (or running) training run from its weight snapshots: the paper's basis
 * stability and mixing similarity per layer between snapshots k epochs apart (OIALR.md §2), and the
 * per-epoch records of metrics.jsonl. Drawing is left to the caller (the CLI draws PNGs).
 */
package dev.oialr4j.analysis;
