package dev.cmwq.workqueue;

/**
 * The {@link java.util.ServiceLoader} service through which {@code workqueue-native} supplies a
 * {@link ThreadPlacement}. A provider must not touch a restricted FFM method before checking that
 * native access is enabled for its module; when it can't act it returns
 * {@link ThreadPlacement#unavailable(String)} with the reason and how to fix it.
 */
public interface ThreadPlacementProvider {
    ThreadPlacement create();
}
