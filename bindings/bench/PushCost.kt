// The push-cost figure (run by bindings/bench.sh against the release
// library): the cost of pushing one 1280×720 NV21 frame from Kotlin,
// starting from what CameraX hands an app, beside the same push from Rust
// (measureRustPushCost, same process, same frame, same protocol; see
// bindings/src/push_cost.rs). Copies on the Kotlin path, for each plane:
//   1. direct ByteBuffer → ByteArray (the app; NV21's U and V views overlap,
//      so the interleaved VU buffer is copied twice),
//   2. ByteArray → RustBuffer (generated Kotlin),
//   3. RustBuffer → Vec<u8> (the lift, one memcpy),
//   4. planes → packed I420 (the core; the Rust path does this one too).
// A benchmark, not a test: it prints figures and asserts nothing.

package egocap.bench

import java.nio.file.Files
import java.util.concurrent.locks.LockSupport
import egocap.tests.Nv21CameraFrame
import egocap.tests.frame
import uniffi.egocap_ffi.*

const val FRAMES = 1000
const val WARM_UP_FRAMES = 100 // as push_cost::WARM_UP_FRAMES

fun main() {
    val dir = Files.createTempDirectory("egocap-push-cost")
    val kotlin = measureKotlinPushCost(dir.toString())
    val rust = measureRustPushCost(dir.toString(), FRAMES.toUInt())
    println("push cost, one 1280x720 NV21 frame from CameraX-style direct buffers, %d frames each:".format(FRAMES))
    println("  %-44s mean %7.1f µs   p99 %7.1f µs".format("Kotlin (ByteBuffer→ByteArray + pushFrame)", kotlin.meanUs, kotlin.p99Us))
    println("  %-44s mean %7.1f µs   p99 %7.1f µs".format("Rust (push_frame on the same planes)", rust.meanUs, rust.p99Us))
    println("  %-44s mean %7.1f µs   p99 %7.1f µs".format("crossing (Kotlin − Rust)", kotlin.meanUs - rust.meanUs, kotlin.p99Us - rust.p99Us))
    println("  goal: crossing ≤ 1000 µs per frame at 720p")
    dir.toFile().deleteRecursively()
}

/** The Kotlin half: the same protocol as measure_rust_push_cost. */
fun measureKotlinPushCost(outputDir: String): PushCost {
    // Unencrypted and unblurred, as the Rust half: the push cost is what is
    // measured, and sealing and blurring happen after the queue.
    val session = RecordingSession.startUnencrypted(defaultSessionConfig(), outputDir, null, null, null)
    val camera = Nv21CameraFrame(1280, 720)
    camera.paint(0)
    val samples = LongArray(FRAMES)
    for (i in 0 until WARM_UP_FRAMES + FRAMES) {
        waitUntilIdle(session)
        val started = System.nanoTime()
        val outcome = session.pushFrame(camera.frame(1_000_000_000L + i * 33_333_333L))
        val elapsed = System.nanoTime() - started
        check(outcome == PushOutcome.QUEUED) { "push $i was not queued: $outcome" }
        if (i >= WARM_UP_FRAMES) samples[i - WARM_UP_FRAMES] = elapsed
    }
    session.stop()
    session.close()
    val micros = samples.map { it / 1000.0 }.sorted()
    val p99 = micros[(micros.size * 99 + 99) / 100 - 1]
    return PushCost(FRAMES.toUInt(), micros.average(), p99)
}

/** Untimed: lets the encoder finish every queued frame. */
fun waitUntilIdle(session: RecordingSession) {
    while (true) {
        val s = session.stats()
        if (s.framesEncoded + s.framesDropped >= s.framesPushed) return
        LockSupport.parkNanos(200_000)
    }
}
