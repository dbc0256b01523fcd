package dev.oialr4j.cuda;

/** Run by {@link FakeDriverTest} in a child JVM whose driver library is the fake one; prints what it sees. */
public final class FakeDriverMain {

    private FakeDriverMain() {
    }

    public static void main(String[] args) {
        System.out.println("reason=" + new CudaBackendProvider().unavailableReason().orElse("<none>"));
        if (CudaDriver.loadFailure().isPresent()) {
            return;
        }
        System.out.println("version=" + CudaDriver.driverVersion());
        System.out.println("devices=" + CudaDriver.devices());
        System.out.println("error100=" + CudaDriver.errorName(100));
        System.out.println("error999=" + CudaDriver.errorName(999));
        try {
            CudaDriver.device(5);
        } catch (CudaException e) {
            System.out.println("bad device=" + e.getMessage());
        }
    }
}
