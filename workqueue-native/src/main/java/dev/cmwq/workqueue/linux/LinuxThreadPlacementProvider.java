package dev.cmwq.workqueue.linux;

import dev.cmwq.workqueue.ThreadPlacement;
import dev.cmwq.workqueue.ThreadPlacementProvider;
import java.util.Locale;

/**
 * Supplies {@link LinuxThreadPlacement} to {@link ThreadPlacement#load()} through
 * {@link java.util.ServiceLoader}. Before anything calls a restricted FFM method it checks the OS,
 * the architecture and that native access is enabled for this module, and otherwise returns
 * {@link ThreadPlacement#unavailable(String)} saying how to turn it on. So the fallback never makes
 * the JVM print its "restricted method" warning.
 */
public final class LinuxThreadPlacementProvider implements ThreadPlacementProvider {

    /** The module name on the module path (the jar's Automatic-Module-Name). */
    static final String MODULE_NAME = "dev.cmwq.workqueue.linux";

    @Override
    public ThreadPlacement create() {
        String reason = whyNot(System.getProperty("os.name", ""), System.getProperty("os.arch", ""),
                LinuxThreadPlacementProvider.class.getModule());
        if (reason != null) {
            return ThreadPlacement.unavailable(reason);
        }
        try {
            return LinuxThreadPlacement.create();
        } catch (RuntimeException | LinkageError e) {
            return ThreadPlacement.unavailable("workqueue-native could not link the C library: " + e);
        }
    }

    /** Why the native placement cannot be used here, or null if it can. Calls no restricted method. */
    static String whyNot(String osName, String osArch, Module module) {
        if (!osName.toLowerCase(Locale.ROOT).startsWith("linux")) {
            return "workqueue-native acts on Linux only; this is " + osName;
        }
        String arch = osArch.toLowerCase(Locale.ROOT);
        if (!(arch.equals("amd64") || arch.equals("x86_64") || arch.equals("aarch64"))) {
            return "workqueue-native supports x86_64 and aarch64 Linux; this is " + osArch;
        }
        if (!module.isNativeAccessEnabled()) {
            return notEnabled(module);
        }
        return null;
    }

    static String notEnabled(Module module) {
        if (module.isNamed()) {
            return "native access is not enabled for module " + module.getName()
                    + "; start the JVM with --enable-native-access=" + module.getName();
        }
        return "native access is not enabled for the unnamed module; start the JVM with"
                + " --enable-native-access=ALL-UNNAMED (class path) or --enable-native-access=" + MODULE_NAME
                + " (module path), or add 'Enable-Native-Access: ALL-UNNAMED' to an executable jar's manifest";
    }
}
