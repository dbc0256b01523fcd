/** The training loop, its callbacks, evaluation, progress display and run results. */
package dev.oialr4j.train;
