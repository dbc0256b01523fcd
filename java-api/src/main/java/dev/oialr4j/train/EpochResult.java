package dev.oialr4j.train;

import java.util.LinkedHashMap;
import java.util.Map;

/** What one epoch produced. Times are wall-clock seconds; callback time is included in trainSeconds. */
public record EpochResult(int epoch, long globalStep, double trainLoss, double testLoss, double testAccuracy,
        double trainSeconds, double callbackSeconds, double lr) {

    /** The epoch's metrics line (callbacks may add fields before it is written). */
    public Map<String, Object> toRecord() {
        Map<String, Object> r = new LinkedHashMap<>();
        r.put("type", "epoch");
        r.put("epoch", epoch);
        r.put("step", globalStep);
        r.put("train_loss", trainLoss);
        r.put("test_loss", testLoss);
        r.put("test_accuracy", testAccuracy);
        r.put("train_seconds", trainSeconds);
        r.put("callback_seconds", callbackSeconds);
        r.put("lr", lr);
        return r;
    }

    public String consoleLine(int epochs) {
        return String.format("epoch %2d/%d  train loss %.4f  test loss %.4f  test acc %6.2f %%  time %5.1f s",
                epoch, epochs, trainLoss, testLoss, 100 * testAccuracy, trainSeconds);
    }
}
