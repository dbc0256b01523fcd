/** Run directories (config, JSON-lines metrics, summary) and the JSON writer behind them. */
package dev.oialr4j.io;
