/**
 * Training data: readers for on-disk formats (IDX, CIFAR-10 binary), an in-memory {@link dev.oialr4j.data.Dataset}
 * of normalised images and integer labels, and a seeded {@link dev.oialr4j.data.DataLoader} that cuts it
 * into shuffled mini-batches, optionally augmented (random crop and flip).
 *
 * <p>Everything a user can get wrong here (a missing, truncated or foreign file, image and label files
 * that disagree) ends in a {@link dev.oialr4j.data.DataException} whose message is one sentence naming
 * the file. Readers either return the whole data set or throw; they never return part of one.
 */
package dev.oialr4j.data;
