// Face blurring from Kotlin: the model as a file or as bytes (what an app
// reads from its assets), typed errors for a missing or corrupt model,
// scikit-image's astronaut pasted into 720p frames converted to NV21 here,
// and a detector that fails on chosen frames (fault injection): frames
// failed closed are counted per segment, dropped in drop mode, and raise
// the per-minute alarm on the event sink.

package egocap.tests

import java.awt.image.BufferedImage
import java.io.File
import javax.imageio.ImageIO
import kotlin.math.abs
import kotlin.math.roundToInt
import kotlin.random.Random
import uniffi.egocap_ffi.*

/** SHA-256 of retinaface-tiny.onnx as scripts/fetch-face-model.sh pins it. */
const val PINNED_MODEL_SHA256 = "b7a7acab55e104dce6f32cdfff929bd83946da5cd869b9e2e9bdffafd1b7e4a5"

val faceModelFile: File by lazy { testInput("egocap.faceModel") }

/** Face blurring with the real model and the library's defaults. */
fun faceBlur(): FaceBlurConfig = FaceBlurConfig(FaceModel.File(faceModelFile.path))

fun blurTests(run: TestRun) {
    run.test("a_missing_face_model_is_a_typed_face_model_invalid_exception_and_nothing_is_written") { missingModel() }
    run.test("a_corrupt_or_truncated_face_model_is_a_typed_face_model_invalid_exception_and_nothing_is_written") {
        corruptModel()
    }
    run.test("a_detection_interval_outside_1_to_30_is_a_typed_invalid_settings_exception") { badDetectionInterval() }
    run.test("the_astronaut_is_blurred_in_every_frame_with_her_and_frames_without_faces_are_not") { astronaut() }
    run.test("a_sealed_recording_lets_no_frame_with_a_face_through_and_records_the_pinned_model") { sealedAstronaut() }
    run.test("detection_failures_blur_whole_frames_counted_as_failed_closed") { failuresBlurWhole() }
    run.test("detection_failures_in_drop_mode_are_failed_closed_drops_in_the_summary") { failuresDrop() }
    run.test("failed_closed_frames_above_the_share_per_minute_raise_one_alarm_event") { failedClosedAlarm() }
}

// --- fixtures -------------------------------------------------------------

/**
 * 1280×720 NV21 frames of a plain gradient wall, with scikit-image's
 * astronaut (512×512, NASA, public domain) pasted on it when asked.
 */
class AstronautScene(private val width: Int = 1280, private val height: Int = 720) {
    private val photo: BufferedImage = ImageIO.read(File(testInput("egocap.testFaces"), "astronaut.png"))
    private val wall = IntArray(width * height) { i ->
        val (x, y) = Pair(i % width, i / width)
        rgb(120 + x * 50 / width, 115 + y * 40 / height, 105)
    }
    private val pixels = IntArray(width * height)

    /** Frame [index]: the wall, and the astronaut when [withFace], 4 px further right each frame (a slow pan). */
    fun frame(index: Int, withFace: Boolean, timestampNs: Long): Frame {
        wall.copyInto(pixels)
        if (withFace) paste(left = 200 + 4 * index, top = 100)
        return nv21(timestampNs)
    }

    private fun paste(left: Int, top: Int) {
        val row = IntArray(photo.width)
        for (y in 0 until photo.height) {
            val to = top + y
            if (to !in 0 until height) continue
            photo.getRGB(0, y, photo.width, 1, row, 0, photo.width)
            for (x in row.indices) {
                if (left + x in 0 until width) pixels[to * width + left + x] = row[x] and 0xffffff
            }
        }
    }

    /**
     * BT.709 limited range, as the session's `FrameFormat` declares (ITU-R
     * BT.709-6 §3: Y' = 16 + 219·E'Y, Cb/Cr = 128 + 224·E'Cb/Cr); chroma is
     * the mean of each 2×2 block. NV21: the Y plane, then V and U interleaved.
     */
    private fun nv21(timestampNs: Long): Frame {
        val y = ByteArray(width * height)
        val vu = ByteArray(width * height / 2)
        for (i in pixels.indices) {
            val p = pixels[i]
            y[i] = byte(16 + 219 * luma(red(p), green(p), blue(p)) / 255)
        }
        for (cy in 0 until height / 2) {
            for (cx in 0 until width / 2) {
                var (r, g, b) = Triple(0.0, 0.0, 0.0)
                for (dy in 0..1) for (dx in 0..1) {
                    val p = pixels[(2 * cy + dy) * width + 2 * cx + dx]
                    r += red(p) / 4.0
                    g += green(p) / 4.0
                    b += blue(p) / 4.0
                }
                val l = luma(r, g, b)
                vu[cy * width + 2 * cx] = byte(128 + 224 * (r - l) / 1.5748 / 255)
                vu[cy * width + 2 * cx + 1] = byte(128 + 224 * (b - l) / 1.8556 / 255)
            }
        }
        val stride = width.toUInt()
        return Frame(
            width.toUInt(), height.toUInt(), PixelLayout.NV21,
            listOf(Plane(y, stride, 1u), Plane(vu, stride, 2u)), timestampNs,
        )
    }

    private fun rgb(r: Int, g: Int, b: Int) = (r shl 16) or (g shl 8) or b
    private fun red(p: Int) = ((p shr 16) and 0xff).toDouble()
    private fun green(p: Int) = ((p shr 8) and 0xff).toDouble()
    private fun blue(p: Int) = (p and 0xff).toDouble()
    private fun luma(r: Double, g: Double, b: Double) = 0.2126 * r + 0.7152 * g + 0.0722 * b
    private fun byte(value: Double) = value.roundToInt().coerceIn(0, 255).toByte()
}

fun frameTime(index: Int): Long = 1_000_000_000L + index * FRAME_INTERVAL_NS

/** A sealing configuration with a fresh owner, device key and consent. */
fun freshSealing(): Pair<Owner, SealingConfig> {
    val owner = Owner()
    val device = FileKeyStore.ephemeral()
    return owner to sealing(device, owner, giveConsent(device, terms()).recordJson)
}

/** Asserts that [start] (given an empty directory) throws `FaceModelInvalid` and writes nothing there. */
fun refusedForTheModel(what: String, start: (String) -> RecordingSession): EgocapException.FaceModelInvalid {
    val dir = tempDir()
    val e = assertThrows<EgocapException.FaceModelInvalid>(what) { start(dir) }
    checkEquals(emptyList<String>(), File(dir).list()!!.toList(), "$what: files written")
    return e
}

/** Each segment's blur report, checked to name the pinned model. */
fun blurReports(summary: SessionSummary): List<Pair<SegmentSummary, BlurSummary>> = summary.segments.map { segment ->
    val blur = segment.blur ?: throw AssertionFailed("segment ${segment.sequence} has no blur report")
    checkEquals("retinaface-tiny", blur.modelName, "segment ${segment.sequence}: model name")
    checkEquals(PINNED_MODEL_SHA256, blur.modelSha256, "segment ${segment.sequence}: model SHA-256")
    segment to blur
}

/** The indices of the frames (in push order) each segment holds, when none was dropped. */
fun frameRanges(segments: List<SegmentSummary>): List<IntRange> {
    var first = 0
    return segments.map { segment -> (first until first + segment.frameCount.toInt()).also { first = it.last + 1 } }
}

/** [frames] gradient frames at 320×240 into [session]; returns its summary. */
fun pushGradient(session: RecordingSession, frames: Int): SessionSummary {
    val camera = Nv21CameraFrame(320, 240)
    for (i in 0 until frames) {
        camera.paint(i)
        checkEquals(PushOutcome.QUEUED, session.pushFrameWaiting(camera.frame(frameTime(i))), "push $i")
    }
    return session.stop()
}

// --- tests ----------------------------------------------------------------

fun missingModel() {
    val (_, sealing) = freshSealing()
    val missing = FaceBlurConfig(FaceModel.File(File(tempDir(), "retinaface-tiny.onnx").path))
    val e = refusedForTheModel("a sealed start without the model file") { dir ->
        RecordingSession.start(smallConfig(64, 64, PixelLayout.NV21), dir, sealing, missing, null, null)
    }
    check(e.reason.contains("retinaface-tiny.onnx")) { "the reason should name the file: ${e.reason}" }
    refusedForTheModel("an unencrypted start without the model file") { dir ->
        RecordingSession.startUnencrypted(smallConfig(64, 64, PixelLayout.NV21), dir, missing, null, null)
    }
}

fun corruptModel() {
    val (_, sealing) = freshSealing()
    fun sealedStart(model: FaceModel) = { dir: String ->
        RecordingSession.start(smallConfig(64, 64, PixelLayout.NV21), dir, sealing, FaceBlurConfig(model), null, null)
    }
    val noise = Random(7).nextBytes(64 * 1024)
    val noiseFile = File(tempDir(), "retinaface-tiny.onnx").apply { writeBytes(noise) }
    refusedForTheModel("random bytes in the model file", sealedStart(FaceModel.File(noiseFile.path)))
    refusedForTheModel("random bytes as the model", sealedStart(FaceModel.Bytes(noise)))
    val model = faceModelFile.readBytes()
    refusedForTheModel("the model's first half", sealedStart(FaceModel.Bytes(model.copyOf(model.size / 2))))
    refusedForTheModel("no bytes", sealedStart(FaceModel.Bytes(ByteArray(0))))
    // The whole model, as bytes, starts.
    sealedStart(FaceModel.Bytes(model))(tempDir()).close()
}

fun badDetectionInterval() {
    for (interval in listOf(0u, 31u)) {
        val e = assertThrows<EgocapException.InvalidSettings>("detection interval $interval") {
            RecordingSession.startUnencrypted(
                smallConfig(64, 64, PixelLayout.NV21), tempDir(), faceBlur().copy(maxDetectionInterval = interval), null, null,
            )
        }
        check(e.reason.contains("detection interval")) { "reason: ${e.reason}" }
    }
}

fun astronaut() {
    // The frozen budget clock of the fault-injection start makes the
    // detector run on every frame and never fall behind, so the counts
    // below depend on the pictures alone, not on the machine's load.
    val scene = AstronautScene()
    val events = CollectingEventSink()
    val session = faultInjectionStartBlurring(smallConfig(1280, 720, PixelLayout.NV21), tempDir(), faceBlur(), emptyList(), events)
    val withFace = 30 until 60 // the first second is the bare wall
    for (i in 0 until 60) {
        checkEquals(PushOutcome.QUEUED, session.pushFrameWaiting(scene.frame(i, i in withFace, frameTime(i))), "push $i")
    }
    val summary = session.stop()
    checkEquals(60uL, summary.framesEncoded, "frames encoded")
    check(summary.segments.size >= 2) { "2 s at 1 s segments should give 2 segments, got ${summary.segments.size}" }
    for ((frames, report) in frameRanges(summary.segments).zip(blurReports(summary))) {
        val (segment, blur) = report
        val what = "segment ${segment.sequence} (frames $frames)"
        checkEquals(frames.count { it in withFace }.toULong(), blur.framesBlurred, "$what: frames blurred")
        checkEquals(0uL, blur.framesFailedClosed, "$what: frames failed closed")
        // A face is counted in the segment where its track starts.
        if (withFace.first in frames) check(blur.facesFound >= 1uL) { "$what: no face found: $blur" }
        if (frames.none { it in withFace }) checkEquals(0uL, blur.facesFound, "$what: faces found on the bare wall")
    }
    checkEquals(summary.segments, events.segments.map { it.first }, "segment events (with their blur reports)")
    checkEquals(emptyList<FailClosedAlarm>(), events.alarms.toList(), "alarms")
    session.close()
}

fun sealedAstronaut() {
    val (owner, sealing) = freshSealing()
    val scene = AstronautScene()
    // What an Android app does with the model in its assets.
    val blur = FaceBlurConfig(FaceModel.Bytes(faceModelFile.readBytes()))
    val session = RecordingSession.start(smallConfig(1280, 720, PixelLayout.NV21), tempDir(), sealing, blur, null, null)
    for (i in 0 until 60) {
        checkEquals(PushOutcome.QUEUED, session.pushFrameWaiting(scene.frame(i, true, frameTime(i))), "push $i")
    }
    val summary = session.stop()
    val counts = summary.segments.map { "${it.blur?.framesBlurred} blurred, ${it.blur?.framesFailedClosed} failed closed" }
    println("     on the real clock, per segment: $counts")
    checkEquals(60uL, summary.framesEncoded, "frames encoded (blur-whole mode drops none)")
    // On the real clock the cadence, and whether the stage ever fell behind
    // its budget, depend on the machine's load; that every frame with the
    // face left the stage obscured, its face or whole, does not.
    for ((segment, blur) in blurReports(summary)) {
        checkEquals(segment.frameCount, blur.framesBlurred + blur.framesFailedClosed, "segment ${segment.sequence}: frames obscured")
    }
    check(summary.segments[0].blur!!.facesFound >= 1uL) { "no face found: ${summary.segments[0].blur}" }
    val record = File(session.segmentDir(), "seg-000000.record.json").readText()
    check(record.contains(PINNED_MODEL_SHA256)) { "the signed segment record does not name the model: $record" }
    checkAllVerified(verifyDataset(session.segmentDir(), listOf(owner.identity.secretKey), owner.keyHex), summary)
    session.close()
}

fun failuresBlurWhole() {
    val events = CollectingEventSink()
    // Detections 40 and 50 fail; with the frozen clock detection n is frame n.
    val session = faultInjectionStartBlurring(smallConfig(320, 240, PixelLayout.NV21), tempDir(), faceBlur(), listOf(40uL, 50uL), events)
    val summary = pushGradient(session, 60)
    checkEquals(60uL, summary.framesEncoded, "frames encoded (failed-closed frames are blurred whole, not dropped)")
    checkEquals(emptyList<DroppedFrame>(), summary.droppedFrames, "dropped frames")
    val failed = setOf(39, 49)
    for ((frames, report) in frameRanges(summary.segments).zip(blurReports(summary))) {
        val (segment, blur) = report
        val what = "segment ${segment.sequence} (frames $frames)"
        checkEquals(frames.count { it in failed }.toULong(), blur.framesFailedClosed, "$what: frames failed closed")
        checkEquals(0uL, blur.framesDroppedFailedClosed, "$what: frames dropped")
        checkEquals(0uL, blur.framesBlurred, "$what: frames blurred (the gradient has no face)")
    }
    // 2 of 50 frames is 4 %, under the default 5 %.
    checkEquals(emptyList<FailClosedAlarm>(), events.alarms.toList(), "alarms")
    session.close()
}

fun failuresDrop() {
    val blur = faceBlur().copy(failClosed = FailClosedMode.DROP)
    val session = faultInjectionStartBlurring(smallConfig(320, 240, PixelLayout.NV21), tempDir(), blur, listOf(10uL, 11uL, 12uL), null)
    val summary = pushGradient(session, 60)
    checkEquals(57uL, summary.framesEncoded, "frames encoded")
    checkEquals(3uL, summary.framesDropped, "frames dropped")
    checkEquals(
        listOf(9, 10, 11).map { DroppedFrame(frameTime(it), DropReason.FAILED_CLOSED) }, summary.droppedFrames, "dropped frames",
    )
    val reports = blurReports(summary).map { it.second }
    checkEquals(3uL, reports.sumOf { it.framesFailedClosed }, "frames failed closed")
    checkEquals(3uL, reports.sumOf { it.framesDroppedFailedClosed }, "frames dropped failed closed")
    for (segment in summary.segments) {
        val path = File(session.segmentDir(), segment.file).path
        checkEquals(segment.frameCount.toString(), probe(path)[3], "frames ffprobe decodes in $path")
    }
    session.close()
}

fun failedClosedAlarm() {
    val events = CollectingEventSink()
    // An app whose handler throws: logged, and the recording goes on.
    val throwing = object : EventSink by events {
        override fun failedClosedShareExceeded(alarm: FailClosedAlarm) {
            events.failedClosedShareExceeded(alarm)
            throw IllegalStateException("the UI is gone")
        }
    }
    val blur = faceBlur().copy(alarmSharePerMinute = 0.1f)
    val failing = (31..45).map { it.toULong() }
    val session = faultInjectionStartBlurring(smallConfig(320, 240, PixelLayout.NV21), tempDir(), blur, failing, throwing)
    val summary = pushGradient(session, 60)
    checkEquals(60uL, summary.framesEncoded, "frames encoded")
    checkEquals(15uL, blurReports(summary).sumOf { it.second.framesFailedClosed }, "frames failed closed")
    // The monitor judges a window once it holds a second of frames (30 at
    // 30 fps); failures from frame 31 on pass 10 % at frame 34 (4 of 34),
    // and it alarms at most once a minute.
    val alarms = events.alarms.toList()
    checkEquals(1, alarms.size, "alarms: $alarms")
    val alarm = alarms.single()
    checkEquals(34uL, alarm.windowFrames, "frames in the alarm's window")
    checkEquals(4uL, alarm.failedClosedFrames, "failed-closed frames in the alarm's window")
    check(abs(alarm.share - 4f / 34f) < 1e-6f) { "share: ${alarm.share}" }
    checkEquals(summary.sessionId, events.finished?.sessionId, "session finished event after the alarm")
    session.close()
}
