/** Optimizers (SGD, AdamW) with per-parameter state other code can read and replace; schedules; clipping. */
package dev.oialr4j.optim;
