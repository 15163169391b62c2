// Kotlin on the JVM calling the real egocap library through JNA, the way an
// Android app does. Run by bindings/run-tests.sh; prints "N passed, N failed".

package egocap.tests

import java.io.File
import java.nio.file.Files
import java.util.Collections
import java.util.concurrent.TimeUnit
import kotlin.system.exitProcess
import uniffi.egocap_ffi.*

const val FRAME_INTERVAL_NS = 33_333_333L

fun main() {
    val run = TestRun()
    val logs = CollectingLogSink()
    installLogSink(logs, LogLevel.DEBUG)

    run.test("records_nv21_camera_frames_with_imu_into_segments_that_ffprobe_reads") { recordsNv21WithImu(logs) }
    run.test("records_i420_frames") { recordsI420() }
    run.test("log_records_reach_the_host_log_sink") { logRecordsReachTheHost(logs) }
    run.test("a_bad_frame_is_a_typed_invalid_frame_exception") { badFrame() }
    run.test("bad_settings_are_typed_invalid_settings_exceptions") { badSettings() }
    run.test("an_exception_in_the_host_log_sink_does_not_crash_the_recording") { throwingLogSink(logs) }
    run.test("a_failing_host_encoder_ends_the_session_with_a_typed_error") { failingHostEncoder() }
    run.test("a_panic_on_the_worker_thread_is_a_typed_error_and_keeps_finished_segments") { workerPanic() }
    run.test("pause_drops_frames_and_resume_records_again") { pauseAndResume() }
    run.test("stopping_twice_is_a_typed_stopped_exception") { stopTwice() }
    run.test("a_frame_of_another_size_or_layout_is_a_typed_invalid_frame_exception") { frameOfAnotherSize() }
    run.test("a_panic_on_the_calling_thread_is_a_typed_internal_exception") { callingThreadPanic() }
    run.test("a_bad_imu_rotation_is_invalid_settings_from_every_call_taking_a_config") { badRotation() }
    run.test("an_exception_in_the_host_event_sink_does_not_disturb_the_recording") { throwingEventSink() }
    sealingTests(run)
    blurTests(run)
    uploadTests(run)
    uploadJobTests(run)

    exitProcess(run.finish())
}

// --- host hooks -----------------------------------------------------------

class CollectingLogSink : LogSink {
    val records: MutableList<LogRecord> = Collections.synchronizedList(mutableListOf())
    override fun log(record: LogRecord) {
        records.add(record)
    }
}

class CollectingEventSink : EventSink {
    val segments: MutableList<Pair<SegmentSummary, String>> = Collections.synchronizedList(mutableListOf())
    val alarms: MutableList<FailClosedAlarm> = Collections.synchronizedList(mutableListOf())
    @Volatile var finished: SessionSummary? = null
    override fun segmentWritten(segment: SegmentSummary, path: String) {
        segments.add(segment to path)
    }
    override fun sessionFinished(summary: SessionSummary) {
        finished = summary
    }
    override fun failedClosedShareExceeded(alarm: FailClosedAlarm) {
        alarms.add(alarm)
    }
}

// --- helpers --------------------------------------------------------------

fun tempDir(): String = Files.createTempDirectory("egocap-kotlin").toString()

fun smallConfig(width: Int, height: Int, layout: PixelLayout): SessionConfig =
    defaultSessionConfig().apply {
        frameFormat = FrameFormat(width.toUInt(), height.toUInt(), layout, ColourRange.LIMITED, ColourMatrix.BT709)
        frameClock = ClockDomain.HOST_MONOTONIC
        imuClock = ClockDomain.HOST_MONOTONIC
        segmentDurationNs = 1_000_000_000L
        bitrateBps = 500_000u
        keyframeInterval = 30u
    }

/** 200 Hz gyroscope and accelerometer samples covering [fromNs, toNs). */
fun imuBetween(fromNs: Long, toNs: Long): List<ImuSample> {
    val out = mutableListOf<ImuSample>()
    var t = fromNs - fromNs % 5_000_000L
    while (t < toNs) {
        if (t >= fromNs) {
            out.add(ImuSample(t, ImuKind.GYROSCOPE, 0.01, -0.02, 0.03))
            out.add(ImuSample(t + 1_000, ImuKind.ACCELEROMETER, 0.1, 9.81, 0.2))
        }
        t += 5_000_000L
    }
    return out
}

/** The codec tags of every stream in a segment, e.g. ["avc1", "camm"]. */
fun streamTags(path: String): List<String> {
    val process = ProcessBuilder(
        "ffprobe", "-v", "error", "-show_entries", "stream=codec_tag_string", "-of", "csv=p=0", path,
    ).redirectErrorStream(true).start()
    val output = process.inputStream.bufferedReader().readText().trim()
    check(process.waitFor(60, TimeUnit.SECONDS) && process.exitValue() == 0) { "ffprobe failed on $path: $output" }
    return output.lines().map { it.trim() }
}

/** Runs ffprobe on one segment: codec, size and the number of decoded video frames. */
fun probe(path: String): List<String> {
    val process = ProcessBuilder(
        "ffprobe", "-v", "error", "-select_streams", "v:0", "-count_frames",
        "-show_entries", "stream=codec_name,width,height,nb_read_frames", "-of", "csv=p=0", path,
    ).redirectErrorStream(true).start()
    val output = process.inputStream.bufferedReader().readText().trim()
    check(process.waitFor(60, TimeUnit.SECONDS) && process.exitValue() == 0) { "ffprobe failed on $path: $output" }
    return output.split(",")
}

// --- tests ----------------------------------------------------------------

fun recordsNv21WithImu(logs: CollectingLogSink) {
    val (w, h, frames) = Triple(320, 240, 60)
    val events = CollectingEventSink()
    val session = RecordingSession.startUnencrypted(smallConfig(w, h, PixelLayout.NV21), tempDir(), null, null, events)
    val camera = Nv21CameraFrame(w, h)
    val base = System.nanoTime()
    for (i in 0 until frames) {
        camera.paint(i)
        val t = base + i * FRAME_INTERVAL_NS
        checkEquals(PushOutcome.QUEUED, session.pushFrameWaiting(camera.frame(t)), "push $i")
        session.pushImu(imuBetween(t, t + FRAME_INTERVAL_NS))
    }
    val live = session.stats()
    checkEquals(frames.toULong(), live.framesPushed, "stats: frames pushed before stop")
    checkEquals(0uL, live.framesDropped, "stats: frames dropped (pushes waited)")
    val summary = session.stop()
    val after = session.stats()
    checkEquals(frames.toULong(), after.framesEncoded, "stats: frames encoded after stop")
    checkEquals(summary.segments.size.toULong(), after.segmentsWritten, "stats: segments written")

    checkEquals(frames.toULong(), summary.framesPushed, "frames pushed")
    checkEquals(frames.toULong(), summary.framesEncoded, "frames encoded")
    checkEquals(null, summary.failure, "failure")
    check(summary.segments.size >= 2) { "2 s at 1 s segments should give at least 2 segments, got ${summary.segments.size}" }
    check(summary.imuSamplesWritten > 0uL) { "no IMU sample was written: $summary" }
    checkEquals(frames.toULong(), summary.segments.sumOf { it.frameCount }, "frames over all segments")
    check(summary.segments.all { it.imuGyroscopeCount > 0uL && it.imuAccelerometerCount > 0uL }) { "a segment without IMU" }

    checkEquals(summary.segments.map { it.file }, events.segments.map { it.first.file }, "segment events")
    checkEquals(summary.sessionId, events.finished?.sessionId, "session finished event")
    for ((segment, path) in events.segments) {
        check(File(path).isFile) { "segment file $path is missing" }
        checkEquals(File(session.segmentDir(), segment.file).path, path, "segment path")
        val (codec, width, height, decoded) = probe(path)
        checkEquals("h264", codec, "codec of $path")
        checkEquals("$w x $h", "$width x $height", "size of $path")
        checkEquals(segment.frameCount.toString(), decoded, "frames ffprobe decodes in $path")
        check("camm" in streamTags(path)) { "no CAMM (IMU) stream in $path: ${streamTags(path)}" }
    }
    check(logs.records.any { it.message.contains("started") && it.target.startsWith("egocap_core") }) {
        "no start log line"
    }
    session.close()
}

fun recordsI420() {
    val (w, h) = Pair(160, 96)
    val session = RecordingSession.startUnencrypted(
        smallConfig(w, h, PixelLayout.I420).apply { imuClock = null }, tempDir(), null, null, null,
    )
    val camera = I420CameraFrame(w, h)
    val base = System.nanoTime()
    repeat(20) { i ->
        camera.paint(i)
        session.pushFrameWaiting(camera.frame(base + i * FRAME_INTERVAL_NS))
    }
    val summary = session.stop()
    checkEquals(20uL, summary.framesEncoded, "frames encoded")
    val (codec, width, height, _) = probe(File(session.segmentDir(), summary.segments[0].file).path)
    checkEquals(listOf("h264", "$w", "$h"), listOf(codec, width, height), "ffprobe")
}

fun logRecordsReachTheHost(logs: CollectingLogSink) {
    logs.records.clear()
    val session = RecordingSession.startUnencrypted(smallConfig(64, 64, PixelLayout.NV21), tempDir(), null, null, null)
    session.stop()
    val lines = synchronized(logs.records) { logs.records.toList() }
    check(lines.any { it.level == LogLevel.INFO && it.message.contains("recording session ${session.sessionId()} started") }) {
        "no 'started' line among ${lines.map { it.message }}"
    }
    check(lines.any { it.level == LogLevel.WARN && it.message.contains("unencrypted") }) { "no plaintext warning" }
    session.close()
}

fun badFrame() {
    val session = RecordingSession.startUnencrypted(smallConfig(64, 64, PixelLayout.NV21), tempDir(), null, null, null)
    val good = Nv21CameraFrame(64, 64).frame(1_000)
    val shortY = good.copy(planes = listOf(good.planes[0].copy(data = ByteArray(100))) + good.planes.drop(1))
    val e = assertThrows<EgocapException.InvalidFrame>("short Y plane") { session.pushFrame(shortY) }
    check(e.reason.contains("plane 0")) { "reason should name the plane: ${e.reason}" }
    assertThrows<EgocapException.InvalidFrame>("one plane") { session.pushFrame(good.copy(planes = good.planes.take(1))) }
    val badStride = good.copy(planes = good.planes.mapIndexed { i, p -> if (i == 1) p.copy(pixelStride = 3u) else p })
    assertThrows<EgocapException.InvalidFrame>("pixel stride 3") { session.pushFrame(badStride) }
    // The session survives bad input.
    checkEquals(PushOutcome.QUEUED, session.pushFrameWaiting(good), "good frame after bad ones")
    session.stop()
    session.close()
}

fun badSettings() {
    val dir = tempDir()
    val base = smallConfig(64, 64, PixelLayout.NV21)
    assertThrows<EgocapException.InvalidSettings>("zero segment duration") {
        RecordingSession.startUnencrypted(base.copy(segmentDurationNs = 0), dir, null, null, null)
    }
    assertThrows<EgocapException.InvalidSettings>("rotation 45") {
        RecordingSession.startUnencrypted(base.copy(geometry = base.geometry.copy(displayRotationDegrees = 45u)), dir, null, null, null)
    }
    assertThrows<EgocapException.InvalidSettings>("4-value IMU rotation") {
        RecordingSession.startUnencrypted(base.copy(geometry = base.geometry.copy(imuToCamera = listOf(1.0, 0.0, 0.0, 1.0))), dir, null, null, null)
    }
    assertThrows<EgocapException.InvalidFrame>("odd width") {
        RecordingSession.startUnencrypted(base.copy(frameFormat = base.frameFormat.copy(width = 63u)), dir, null, null, null)
    }
    val noImu = RecordingSession.startUnencrypted(base.copy(imuClock = null), dir, null, null, null)
    assertThrows<EgocapException.InvalidSettings>("IMU on a session without IMU") {
        noImu.pushImu(listOf(ImuSample(1, ImuKind.GYROSCOPE, 0.0, 0.0, 0.0)))
    }
    noImu.stop()
    noImu.close()
}

fun throwingLogSink(logs: CollectingLogSink) {
    var calls = 0
    installLogSink(object : LogSink {
        override fun log(record: LogRecord) {
            calls++
            throw IllegalStateException("logcat is gone")
        }
    }, LogLevel.TRACE)
    try {
        val session = RecordingSession.startUnencrypted(smallConfig(64, 64, PixelLayout.NV21), tempDir(), null, null, null)
        val camera = Nv21CameraFrame(64, 64)
        repeat(5) { i -> session.pushFrameWaiting(camera.frame(1_000_000 + i * FRAME_INTERVAL_NS)) }
        val summary = session.stop()
        checkEquals(5uL, summary.framesEncoded, "frames encoded")
        check(calls > 0) { "the throwing sink was never called" }
        session.close()
    } finally {
        installLogSink(logs, LogLevel.DEBUG)
    }
}

/** A hardware encoder that dies on its third frame, as MediaCodec can. */
class DyingEncoder(private val failure: Throwable) : VideoEncoder {
    var frames = 0
    override fun name() = "dying test encoder"
    override fun encode(image: I420Image, ptsNs: Long, forceKeyframe: Boolean): List<EncodedFrame> {
        check(image.data.size == image.width.toInt() * image.height.toInt() * 3 / 2) { "I420 size" }
        if (++frames == 3) throw failure
        return emptyList()
    }
    override fun flush(): List<EncodedFrame> = emptyList()
}

fun failingHostEncoder() {
    // A plain exception, our own typed one, and a JVM Error (which the
    // generated code does not catch: JNA swallows it, and Rust sees an
    // empty return it cannot lift, which must still end as a typed error).
    val failures = listOf(
        IllegalStateException("codec released"),
        EgocapException.Encoder("codec released"),
        AssertionError("codec released"),
    )
    for (failure in failures) {
        val encoder = DyingEncoder(failure)
        val session = RecordingSession.startUnencrypted(smallConfig(64, 64, PixelLayout.NV21), tempDir(), null, encoder, null)
        val camera = Nv21CameraFrame(64, 64)
        // Pushes after the failure throw the same typed error.
        val pushError = assertThrows<EgocapException.PipelineFailed>("pushing after the encoder died") {
            repeat(200) { i ->
                session.pushFrameWaiting(camera.frame(1_000_000 + i * FRAME_INTERVAL_NS))
                Thread.sleep(2)
            }
        }
        val stopError = assertThrows<EgocapException.PipelineFailed>("stop after the encoder died") { session.stop() }
        // JNA drops a JVM Error's message; exceptions keep theirs.
        val expected = if (failure is Exception) "codec released" else "host callback failed"
        check(pushError.reason.contains(expected)) { "push reason should contain '$expected': ${pushError.reason}" }
        check(stopError.reason.contains(expected)) { "stop reason should contain '$expected': ${stopError.reason}" }
        checkEquals(3, encoder.frames, "frames the host encoder saw")
        session.close()
    }
}

fun workerPanic() {
    // OpenH264 that panics on frame 75, after the first 1-second segments are on disk.
    val events = CollectingEventSink()
    val config = smallConfig(64, 64, PixelLayout.NV21)
    val session = RecordingSession.startUnencrypted(config, tempDir(), null, faultInjectionPanickingEncoder(config, 75u), events)
    val camera = Nv21CameraFrame(64, 64)
    val error = assertThrows<EgocapException.PipelineFailed>("pushing into a session whose worker panicked") {
        repeat(500) { i ->
            session.pushFrameWaiting(camera.frame(1_000_000 + i * FRAME_INTERVAL_NS))
            Thread.sleep(1)
        }
    }
    check(error.reason.contains("injected panic")) { "reason should say the worker panicked: ${error.reason}" }
    assertThrows<EgocapException.PipelineFailed>("stop after the panic") { session.stop() }
    checkEquals(error.reason, events.finished?.failure, "failure in the summary")
    check(!error.message.orEmpty().contains("failed: the recording pipeline failed")) { "prefix repeated: ${error.message}" }
    check(events.segments.isNotEmpty()) { "the segments finished before the panic are gone" }
    for ((segment, path) in events.segments) {
        checkEquals(segment.frameCount.toString(), probe(path)[3], "frames ffprobe decodes in $path")
    }
    session.close()
}

fun pauseAndResume() {
    val session = RecordingSession.startUnencrypted(smallConfig(64, 64, PixelLayout.NV21), tempDir(), null, null, null)
    val camera = Nv21CameraFrame(64, 64)
    var t = 1_000_000_000L
    fun push() = session.pushFrameWaiting(camera.frame(t)).also { t += FRAME_INTERVAL_NS }
    repeat(10) { push() }
    session.pause(PauseReason.PhoneCall)
    checkEquals(PushOutcome.DROPPED_PAUSED, push(), "push while paused")
    session.resume()
    checkEquals(PushOutcome.QUEUED, push(), "push after resume")
    repeat(9) { push() }
    val summary = session.stop()
    checkEquals(listOf<PauseReason>(PauseReason.PhoneCall), summary.pauses.map { it.reason }, "pauses")
    checkEquals(20uL, summary.framesEncoded, "frames encoded")
    check(summary.segments.size >= 2) { "pause should close a segment" }
    session.close()
}

fun stopTwice() {
    val session = RecordingSession.startUnencrypted(smallConfig(64, 64, PixelLayout.NV21), tempDir(), null, null, null)
    session.stop()
    assertThrows<EgocapException.Stopped>("second stop") { session.stop() }
    session.close()
}

fun frameOfAnotherSize() {
    // A 720p session fed a 1080p frame (the camera switched resolution):
    // rejected as a typed error, never cropped into the 720p picture.
    val session = RecordingSession.startUnencrypted(smallConfig(1280, 720, PixelLayout.NV21), tempDir(), null, null, null)
    val big = Nv21CameraFrame(1920, 1080).frame(1_000)
    val e = assertThrows<EgocapException.InvalidFrame>("1080p frame into a 720p session") { session.pushFrame(big) }
    check(e.reason.contains("1920") && e.reason.contains("1280")) { "reason should give both sizes: ${e.reason}" }
    check(!e.reason.startsWith("invalid frame")) { "prefix repeated: ${e.message}" }
    val i420 = toFrame(1280, 720, PixelLayout.I420, I420CameraFrame(1280, 720).planes, 2_000)
    assertThrows<EgocapException.InvalidFrame>("I420 frame into an NV21 session") { session.pushFrame(i420) }
    checkEquals(PushOutcome.QUEUED, session.pushFrameWaiting(Nv21CameraFrame(1280, 720).frame(3_000)), "matching frame")
    val summary = session.stop()
    checkEquals(1uL, summary.framesEncoded, "only the matching frame is recorded")
    session.close()
}

fun callingThreadPanic() {
    val e = assertThrows<EgocapException.Internal>("panic in an exported call") { faultInjectionPanicOnCallingThread() }
    check(e.reason.contains("injected panic on the calling thread")) { "reason: ${e.reason}" }
    // The library still works afterwards.
    stopTwice()
}

fun badRotation() {
    val base = smallConfig(64, 64, PixelLayout.NV21)
    val bad = base.copy(geometry = base.geometry.copy(imuToCamera = listOf(1.0, 0.0, 0.0)))
    val e = assertThrows<EgocapException.InvalidSettings>("encoderSettings with 3 rotation values") { encoderSettings(bad) }
    check(e.reason.contains("9 values")) { "reason: ${e.reason}" }
    assertThrows<EgocapException.InvalidSettings>("start with 3 rotation values") {
        RecordingSession.startUnencrypted(bad, tempDir(), null, null, null)
    }
    checkEquals(64u, encoderSettings(base).width, "encoder settings of a good config")
}

fun throwingEventSink() {
    var calls = 0
    val throwing = object : EventSink {
        override fun segmentWritten(segment: SegmentSummary, path: String) {
            calls++
            throw IllegalStateException("the UI is gone")
        }
        override fun sessionFinished(summary: SessionSummary) {
            calls++
            throw EgocapException.Callback("the UI is gone")
        }
        override fun failedClosedShareExceeded(alarm: FailClosedAlarm) {
            calls++
            throw IllegalStateException("the UI is gone")
        }
    }
    val session = RecordingSession.startUnencrypted(smallConfig(64, 64, PixelLayout.NV21), tempDir(), null, null, throwing)
    val camera = Nv21CameraFrame(64, 64)
    repeat(45) { i -> session.pushFrameWaiting(camera.frame(1_000_000 + i * FRAME_INTERVAL_NS)) }
    val summary = session.stop()
    checkEquals(45uL, summary.framesEncoded, "frames encoded")
    checkEquals(null, summary.failure, "failure")
    check(summary.segments.size >= 2) { "expected 2 segments, got ${summary.segments.size}" }
    checkEquals(summary.segments.size + 1, calls, "event calls (each segment, then the end)")
    for (segment in summary.segments) {
        val path = File(session.segmentDir(), segment.file).path
        checkEquals(segment.frameCount.toString(), probe(path)[3], "frames ffprobe decodes in $path")
    }
    session.close()
}
