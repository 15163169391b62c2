// XCTest suite for the Swift bindings. NOT RUN on the Linux CI machine
// (there is no Swift toolchain there); CI only checks that this file and
// the generated Swift parse (tree-sitter-swift) and that the C header
// compiles. The generated Swift needs Swift 5.10+ (Xcode 15.3+). To run on
// a Mac (the same steps as the READMEs):
//
//   bindings/generate.sh            # builds libegocap_ffi.dylib, writes target/bindings/swift/
//   mkdir -p /tmp/egocap-swift && cd /tmp/egocap-swift
//   # Package.swift: a system library target `egocap_ffiFFI` with the generated
//   # header and module map, a target `egocap_ffi` with egocap_ffi.swift linking
//   # libegocap_ffi (linkerSettings: .unsafeFlags(["-L<repo>/target/debug"])),
//   # and a test target with this file.
//   bash scripts/fetch-face-model.sh && bash scripts/fetch-test-faces.sh
//   swift test
//
// The face model and astronaut.png are read from <repo>/target/models/ and
// <repo>/target/test-faces/, found from this file's own path; when the
// file is copied elsewhere, set EGOCAP_FACE_MODEL (the model file) and
// EGOCAP_TEST_FACES_DIR (the directory of astronaut.png).
//
// The tests mirror bindings/tests/kotlin/EgocapTests.kt, Sealing.kt and
// Blur.kt (not its fault-injection tests: a Mac build has no such exports),
// and the chunk jobs of UploadJobs.kt.

import CoreGraphics
import CryptoKit
import Foundation
import ImageIO
import XCTest

@testable import egocap_ffi

final class CollectingLogSink: LogSink, @unchecked Sendable {
    private let lock = NSLock()
    private var records: [LogRecord] = []

    func log(record: LogRecord) throws {
        lock.lock()
        defer { lock.unlock() }
        records.append(record)
    }

    var messages: [String] {
        lock.lock()
        defer { lock.unlock() }
        return records.map { $0.message }
    }
}

final class CollectingEventSink: EventSink, @unchecked Sendable {
    private let lock = NSLock()
    private(set) var segments: [(SegmentSummary, String)] = []
    private(set) var finished: SessionSummary?
    private(set) var alarms: [FailClosedAlarm] = []

    func segmentWritten(segment: SegmentSummary, path: String) throws {
        lock.lock()
        defer { lock.unlock() }
        segments.append((segment, path))
    }

    func sessionFinished(summary: SessionSummary) throws {
        lock.lock()
        defer { lock.unlock() }
        finished = summary
    }

    func failedClosedShareExceeded(alarm: FailClosedAlarm) throws {
        lock.lock()
        defer { lock.unlock() }
        alarms.append(alarm)
    }
}

/// SHA-256 of retinaface-tiny.onnx as scripts/fetch-face-model.sh pins it.
let pinnedModelSha256 = "b7a7acab55e104dce6f32cdfff929bd83946da5cd869b9e2e9bdffafd1b7e4a5"

/// The repository root: this file is bindings/tests/swift/EgocapTests.swift.
let repoRoot = URL(fileURLWithPath: #filePath)
    .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

let faceModelPath = ProcessInfo.processInfo.environment["EGOCAP_FACE_MODEL"]
    ?? repoRoot.appendingPathComponent("target/models/retinaface-tiny.onnx").path

let testFacesDir = ProcessInfo.processInfo.environment["EGOCAP_TEST_FACES_DIR"]
    ?? repoRoot.appendingPathComponent("target/test-faces").path

/// Face blurring with the real model (an app passes the file among its
/// bundle's resources) and the library's defaults.
func faceBlur() -> FaceBlurConfig {
    FaceBlurConfig(model: .file(path: faceModelPath))
}

struct UnreadableImage: Error {
    let path: String
}

/// 1280×720 NV12 frames (what iOS cameras hand out) of a gradient wall,
/// with scikit-image's astronaut (512×512, NASA, public domain) drawn on it
/// when asked.
final class AstronautScene {
    let width = 1280
    let height = 720
    private let photo: CGImage

    init() throws {
        let path = testFacesDir + "/astronaut.png"
        guard let source = CGImageSourceCreateWithURL(URL(fileURLWithPath: path) as CFURL, nil),
              let image = CGImageSourceCreateImageAtIndex(source, 0, nil)
        else { throw UnreadableImage(path: path) }
        photo = image
    }

    /// The wall, and the astronaut on it when `withFace`.
    func frame(withFace: Bool, timestampNs: Int64) -> Frame {
        var rgba = [UInt8](repeating: 255, count: width * height * 4)
        for row in 0..<height {
            for col in 0..<width {
                let i = (row * width + col) * 4
                rgba[i] = UInt8(120 + col * 50 / width)
                rgba[i + 1] = UInt8(115 + row * 40 / height)
                rgba[i + 2] = 105
            }
        }
        if withFace {
            let (width, height, photo) = (self.width, self.height, self.photo)
            rgba.withUnsafeMutableBytes { buffer in
                let context = CGContext(
                    data: buffer.baseAddress, width: width, height: height, bitsPerComponent: 8, bytesPerRow: width * 4,
                    space: CGColorSpaceCreateDeviceRGB(), bitmapInfo: CGImageAlphaInfo.noneSkipLast.rawValue)
                // Core Graphics counts rows from the bottom: 100 rows from the top.
                let top = height - 100 - photo.height
                context?.draw(photo, in: CGRect(x: 300, y: top, width: photo.width, height: photo.height))
            }
        }
        return nv12(rgba, timestampNs: timestampNs)
    }

    /// BT.709 limited range, as the session's `FrameFormat` declares (ITU-R
    /// BT.709-6 §3); chroma is the mean of each 2×2 block. NV12: the Y
    /// plane, then U and V interleaved.
    private func nv12(_ rgba: [UInt8], timestampNs: Int64) -> Frame {
        func luma(_ r: Double, _ g: Double, _ b: Double) -> Double { 0.2126 * r + 0.7152 * g + 0.0722 * b }
        func byte(_ value: Double) -> UInt8 { UInt8(max(0, min(255, value.rounded()))) }
        var y = [UInt8](repeating: 0, count: width * height)
        var uv = [UInt8](repeating: 128, count: width * height / 2)
        for i in 0..<(width * height) {
            y[i] = byte(16 + 219 * luma(Double(rgba[4 * i]), Double(rgba[4 * i + 1]), Double(rgba[4 * i + 2])) / 255)
        }
        for row in 0..<(height / 2) {
            for col in 0..<(width / 2) {
                var (r, g, b) = (0.0, 0.0, 0.0)
                for dy in 0...1 {
                    for dx in 0...1 {
                        let i = ((2 * row + dy) * width + 2 * col + dx) * 4
                        r += Double(rgba[i]) / 4
                        g += Double(rgba[i + 1]) / 4
                        b += Double(rgba[i + 2]) / 4
                    }
                }
                let l = luma(r, g, b)
                uv[row * width + 2 * col] = byte(128 + 224 * (b - l) / 1.8556 / 255)
                uv[row * width + 2 * col + 1] = byte(128 + 224 * (r - l) / 1.5748 / 255)
            }
        }
        return Frame(
            width: UInt32(width),
            height: UInt32(height),
            layout: .nv12,
            planes: [
                Plane(data: Data(y), rowStride: UInt32(width), pixelStride: 1),
                Plane(data: Data(uv), rowStride: UInt32(width), pixelStride: 2),
            ],
            timestampNs: timestampNs
        )
    }
}

struct HostEncoderDied: Error {}

/// A VideoToolbox stand-in that fails on its third frame.
final class DyingEncoder: VideoEncoder, @unchecked Sendable {
    private(set) var frames = 0

    func name() throws -> String { "dying test encoder" }

    func encode(image: I420Image, ptsNs: Int64, forceKeyframe: Bool) throws -> [EncodedFrame] {
        frames += 1
        if frames == 3 { throw HostEncoderDied() }
        return []
    }

    func flush() throws -> [EncodedFrame] { [] }
}

/// A KeyStore in Swift over CryptoKit's Ed25519, as an app would wrap a
/// Keychain-held key (the private key never crosses into the library).
final class CryptoKitKeyStore: KeyStore, @unchecked Sendable {
    private let key = Curve25519.Signing.PrivateKey()
    private let lock = NSLock()
    private var count = 0

    var signatures: Int {
        lock.lock()
        defer { lock.unlock() }
        return count
    }

    func publicKey() throws -> Data { key.publicKey.rawRepresentation }

    func sign(message: Data) throws -> Data {
        lock.lock()
        count += 1
        lock.unlock()
        return try key.signature(for: message)
    }
}

/// The dataset owner: a pinned signing key, an age identity, a signed recipient set.
struct Owner {
    let key: FileKeyStore
    let identity: AgeIdentity
    let recipientSetJson: String
    let keyHex: String

    init() throws {
        key = try FileKeyStore.ephemeral()
        identity = try generateAgeIdentity()
        recipientSetJson = try signRecipientSet(ownerKeystore: key, version: 1, recipients: [identity.recipient])
        keyHex = try key.publicKeyHex()
    }
}

final class EgocapTests: XCTestCase {
    let frameIntervalNs: Int64 = 33_333_333

    func tempDir() throws -> String {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("egocap-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        return url.path
    }

    func config(width: UInt32, height: UInt32) -> SessionConfig {
        var config = defaultSessionConfig()
        // iOS hands out bi-planar NV12 stamped with the host clock.
        config.frameFormat = FrameFormat(width: width, height: height, layout: .nv12, range: .limited, matrix: .bt709)
        config.frameClock = .hostMonotonic
        config.imuClock = .hostMonotonic
        config.segmentDurationNs = 1_000_000_000
        return config
    }

    /// An NV12 frame as CVPixelBuffer planes: Y and interleaved CbCr, rows padded to 64 bytes.
    func nv12Frame(width: Int, height: Int, index: Int, timestampNs: Int64) -> Frame {
        let stride = (width + 63) / 64 * 64
        var y = Data(count: stride * height)
        var uv = Data(count: stride * height / 2)
        for row in 0..<height {
            for col in 0..<width { y[row * stride + col] = UInt8((col + row + index * 4) & 0xff) }
        }
        for row in 0..<height / 2 {
            for col in 0..<width / 2 {
                uv[row * stride + 2 * col] = UInt8(128 + (row + index) % 32)
                uv[row * stride + 2 * col + 1] = UInt8(128 - (col + index) % 32)
            }
        }
        return Frame(
            width: UInt32(width),
            height: UInt32(height),
            layout: .nv12,
            planes: [
                Plane(data: y, rowStride: UInt32(stride), pixelStride: 1),
                Plane(data: uv, rowStride: UInt32(stride), pixelStride: 2),
            ],
            timestampNs: timestampNs
        )
    }

    func testRecordsNv12FramesWithImuIntoSegments() throws {
        let logs = CollectingLogSink()
        try installLogSink(sink: logs, maxLevel: .debug)
        let events = CollectingEventSink()
        let session = try RecordingSession.startUnencrypted(
            config: config(width: 320, height: 240), outputDir: try tempDir(), faceBlur: nil, encoder: nil, events: events)
        let base: Int64 = 1_000_000_000
        for i in 0..<60 {
            let t = base + Int64(i) * frameIntervalNs
            XCTAssertEqual(try session.pushFrameWaiting(frame: nv12Frame(width: 320, height: 240, index: i, timestampNs: t)), .queued)
            try session.pushImu(samples: [
                ImuSample(timestampNs: t, kind: .gyroscope, x: 0.01, y: -0.02, z: 0.03),
                ImuSample(timestampNs: t + 1_000, kind: .accelerometer, x: 0.1, y: 9.81, z: 0.2),
            ])
        }
        let summary = try session.stop()
        XCTAssertEqual(summary.framesEncoded, 60)
        XCTAssertNil(summary.failure)
        XCTAssertGreaterThanOrEqual(summary.segments.count, 2)
        XCTAssertGreaterThan(summary.imuSamplesWritten, 0)
        XCTAssertEqual(events.segments.map { $0.0.file }, summary.segments.map { $0.file })
        XCTAssertEqual(events.finished?.sessionId, summary.sessionId)
        for (_, path) in events.segments {
            XCTAssertTrue(FileManager.default.fileExists(atPath: path))
        }
        XCTAssertTrue(logs.messages.contains { $0.contains("recording session \(session.sessionId()) started") })
    }

    func testBadFrameIsATypedError() throws {
        let session = try RecordingSession.startUnencrypted(
            config: config(width: 64, height: 64), outputDir: try tempDir(), faceBlur: nil, encoder: nil, events: nil)
        var frame = nv12Frame(width: 64, height: 64, index: 0, timestampNs: 1_000)
        frame.planes[0].data = Data(count: 100)
        XCTAssertThrowsError(try session.pushFrame(frame: frame)) { error in
            guard case EgocapError.InvalidFrame(let reason) = error else {
                return XCTFail("expected InvalidFrame, got \(error)")
            }
            XCTAssertTrue(reason.contains("plane 0"))
        }
        _ = try session.stop()
    }

    func testBadSettingsAreTypedErrors() throws {
        var bad = config(width: 64, height: 64)
        bad.segmentDurationNs = 0
        XCTAssertThrowsError(try RecordingSession.startUnencrypted(config: bad, outputDir: try tempDir(), faceBlur: nil, encoder: nil, events: nil)) {
            guard case EgocapError.InvalidSettings = $0 else { return XCTFail("got \($0)") }
        }
        var rotated = config(width: 64, height: 64)
        rotated.geometry.displayRotationDegrees = 45
        XCTAssertThrowsError(try RecordingSession.startUnencrypted(config: rotated, outputDir: try tempDir(), faceBlur: nil, encoder: nil, events: nil)) {
            guard case EgocapError.InvalidSettings = $0 else { return XCTFail("got \($0)") }
        }
    }

    func testThrowingLogSinkDoesNotCrash() throws {
        final class ThrowingSink: LogSink, @unchecked Sendable {
            func log(record: LogRecord) throws { throw HostEncoderDied() }
        }
        try installLogSink(sink: ThrowingSink(), maxLevel: .trace)
        defer { removeLogSink() }
        let session = try RecordingSession.startUnencrypted(
            config: config(width: 64, height: 64), outputDir: try tempDir(), faceBlur: nil, encoder: nil, events: nil)
        for i in 0..<5 {
            _ = try session.pushFrameWaiting(frame: nv12Frame(width: 64, height: 64, index: i, timestampNs: 1_000_000 + Int64(i) * frameIntervalNs))
        }
        XCTAssertEqual(try session.stop().framesEncoded, 5)
    }

    func testFailingHostEncoderEndsTheSessionWithATypedError() throws {
        let encoder = DyingEncoder()
        let session = try RecordingSession.startUnencrypted(
            config: config(width: 64, height: 64), outputDir: try tempDir(), faceBlur: nil, encoder: encoder, events: nil)
        for i in 0..<3 {
            _ = try? session.pushFrameWaiting(frame: nv12Frame(width: 64, height: 64, index: i, timestampNs: 1_000_000 + Int64(i) * frameIntervalNs))
        }
        XCTAssertThrowsError(try session.stop()) {
            guard case EgocapError.PipelineFailed = $0 else { return XCTFail("got \($0)") }
        }
        XCTAssertEqual(encoder.frames, 3)
    }

    func testStoppingTwiceIsATypedError() throws {
        let session = try RecordingSession.startUnencrypted(
            config: config(width: 64, height: 64), outputDir: try tempDir(), faceBlur: nil, encoder: nil, events: nil)
        _ = try session.stop()
        XCTAssertThrowsError(try session.stop()) {
            guard case EgocapError.Stopped = $0 else { return XCTFail("got \($0)") }
        }
    }

    // --- sealed recording -------------------------------------------------

    func terms() -> ConsentTerms {
        egocentricVideoConsentTerms(
            controller: Controller(name: "Example Robotics Dataset Ltd", contact: "https://example.org/privacy"),
            jurisdiction: "DE", noticeText: "You will record yourself doing chores.", noticeLanguage: "en",
            workerPseudonym: "worker-0001")
    }

    func sealing(device: KeyStore, owner: Owner, consentJson: String, withdrawals: [String] = []) throws -> SealingConfig {
        SealingConfig(
            keystore: device,
            deviceRegistrationJson: try registerDevice(keystore: device, platform: "ios", attestation: nil),
            recipientSetJson: owner.recipientSetJson,
            ownerKeyHex: owner.keyHex,
            consentJson: consentJson,
            withdrawalsJson: withdrawals)
    }

    func recordSealed(_ sealing: SealingConfig, frames: Int) throws -> (RecordingSession, SessionSummary) {
        let session = try RecordingSession.start(
            config: config(width: 64, height: 64), outputDir: try tempDir(), sealing: sealing, faceBlur: faceBlur(), encoder: nil, events: nil)
        for i in 0..<frames {
            let t = 1_000_000_000 + Int64(i) * frameIntervalNs
            _ = try session.pushFrameWaiting(frame: nv12Frame(width: 64, height: 64, index: i, timestampNs: t))
        }
        return (session, try session.stop())
    }

    func testSealedRecordingWithAFileKeyStoreVerifies() throws {
        let owner = try Owner()
        let device = try FileKeyStore.ephemeral()
        let consent = try giveConsent(keystore: device, terms: terms())
        let (session, summary) = try recordSealed(try sealing(device: device, owner: owner, consentJson: consent.recordJson), frames: 45)
        XCTAssertGreaterThanOrEqual(summary.segments.count, 2)
        let files = try FileManager.default.contentsOfDirectory(atPath: session.segmentDir())
        XCTAssertFalse(files.contains { $0.hasSuffix(".mp4") })
        let report = try verifyDataset(dir: session.segmentDir(), identities: [owner.identity.secretKey], ownerKeyHex: owner.keyHex)
        XCTAssertTrue(report.allVerified)
        XCTAssertEqual(report.segments.map { $0.frames }, summary.segments.map { $0.frameCount })
    }

    func testCryptoKitKeyStoreSignsRecordsThatVerify() throws {
        let owner = try Owner()
        let device = CryptoKitKeyStore()
        let consent = try giveConsent(keystore: device, terms: terms())
        let (session, summary) = try recordSealed(try sealing(device: device, owner: owner, consentJson: consent.recordJson), frames: 45)
        // Registration, consent, the start probe, one per segment, the session end.
        XCTAssertEqual(device.signatures, 4 + summary.segments.count)
        let report = try verifyDataset(dir: session.segmentDir(), identities: [owner.identity.secretKey], ownerKeyHex: owner.keyHex)
        XCTAssertTrue(report.allVerified)
    }

    func testConsentProblemsAreTypedErrorsAtStart() throws {
        let owner = try Owner()
        let device = try FileKeyStore.ephemeral()
        let elsewhere = try giveConsent(keystore: try FileKeyStore.ephemeral(), terms: terms())
        XCTAssertThrowsError(try recordSealed(try sealing(device: device, owner: owner, consentJson: elsewhere.recordJson), frames: 1)) {
            guard case EgocapError.ConsentInvalid = $0 else { return XCTFail("got \($0)") }
        }
        let consent = try giveConsent(keystore: device, terms: terms())
        let withdrawal = try withdrawConsent(keystore: device, consentId: consent.consentId)
        let withdrawn = try sealing(device: device, owner: owner, consentJson: consent.recordJson, withdrawals: [withdrawal])
        XCTAssertThrowsError(try recordSealed(withdrawn, frames: 1)) {
            guard case EgocapError.ConsentWithdrawn(let consentId, _) = $0 else { return XCTFail("got \($0)") }
            XCTAssertEqual(consentId, consent.consentId)
        }
    }

    func testRecipientSetOfANonOwnerIsATypedError() throws {
        let owner = try Owner()
        let device = try FileKeyStore.ephemeral()
        let consent = try giveConsent(keystore: device, terms: terms())
        var config = try sealing(device: device, owner: owner, consentJson: consent.recordJson)
        config.recipientSetJson = try signRecipientSet(
            ownerKeystore: try FileKeyStore.ephemeral(), version: 2, recipients: [try generateAgeIdentity().recipient])
        XCTAssertThrowsError(try recordSealed(config, frames: 1)) {
            guard case EgocapError.RecipientSetUntrusted = $0 else { return XCTFail("got \($0)") }
        }
    }

    func testAFlippedByteFailsThatSegment() throws {
        let owner = try Owner()
        let device = try FileKeyStore.ephemeral()
        let consent = try giveConsent(keystore: device, terms: terms())
        let (session, summary) = try recordSealed(try sealing(device: device, owner: owner, consentJson: consent.recordJson), frames: 45)
        let url = URL(fileURLWithPath: session.segmentDir()).appendingPathComponent(summary.segments[0].file + ".age")
        var bytes = try Data(contentsOf: url)
        bytes[bytes.count / 2] ^= 0x01
        try bytes.write(to: url)
        let report = try verifyDataset(dir: session.segmentDir(), identities: [owner.identity.secretKey], ownerKeyHex: owner.keyHex)
        XCTAssertFalse(report.allVerified)
        let first = report.segments.first { $0.sequence == 0 }
        XCTAssertTrue(first?.failures.contains { $0.kind == .sealedHashMismatch } ?? false)
        XCTAssertTrue(report.segments.filter { $0.sequence != 0 }.allSatisfy { $0.failures.isEmpty })
    }

    // --- face blurring ----------------------------------------------------

    func testMissingOrCorruptFaceModelIsATypedErrorAndWritesNothing() throws {
        let owner = try Owner()
        let device = try FileKeyStore.ephemeral()
        let consent = try giveConsent(keystore: device, terms: terms())
        let sealing = try sealing(device: device, owner: owner, consentJson: consent.recordJson)
        let model = try Data(contentsOf: URL(fileURLWithPath: faceModelPath))
        let noise = Data((0..<65_536).map { _ in UInt8.random(in: 0...255) })
        let refused: [(String, FaceBlurConfig)] = [
            ("no model file", FaceBlurConfig(model: .file(path: try tempDir() + "/retinaface-tiny.onnx"))),
            ("random bytes", FaceBlurConfig(model: .bytes(data: noise))),
            ("the model's first half", FaceBlurConfig(model: .bytes(data: Data(model.prefix(model.count / 2))))),
        ]
        for (what, blur) in refused {
            let dir = try tempDir()
            XCTAssertThrowsError(try RecordingSession.start(
                config: config(width: 64, height: 64), outputDir: dir, sealing: sealing, faceBlur: blur, encoder: nil, events: nil)
            ) {
                guard case EgocapError.FaceModelInvalid = $0 else { return XCTFail("\(what): got \($0)") }
            }
            XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: dir), [], what)
        }
    }

    func testDetectionIntervalOutsideOneToThirtyIsATypedError() throws {
        var blur = faceBlur()
        blur.maxDetectionInterval = 0
        XCTAssertThrowsError(try RecordingSession.startUnencrypted(
            config: config(width: 64, height: 64), outputDir: try tempDir(), faceBlur: blur, encoder: nil, events: nil)
        ) {
            guard case EgocapError.InvalidSettings = $0 else { return XCTFail("got \($0)") }
        }
    }

    func testSealedRecordingBlursTheAstronautAndRecordsThePinnedModel() throws {
        let owner = try Owner()
        let device = try FileKeyStore.ephemeral()
        let consent = try giveConsent(keystore: device, terms: terms())
        let events = CollectingEventSink()
        let session = try RecordingSession.start(
            config: config(width: 1280, height: 720), outputDir: try tempDir(),
            sealing: try sealing(device: device, owner: owner, consentJson: consent.recordJson),
            faceBlur: faceBlur(), encoder: nil, events: events)
        // Converted once (per-pixel loops are slow in a debug build), pushed 60 times.
        var frame = try AstronautScene().frame(withFace: true, timestampNs: 0)
        for i in 0..<60 {
            frame.timestampNs = 1_000_000_000 + Int64(i) * frameIntervalNs
            XCTAssertEqual(try session.pushFrameWaiting(frame: frame), .queued)
        }
        let summary = try session.stop()
        XCTAssertEqual(summary.framesEncoded, 60)
        // The cadence and any overrun depend on the machine (the real
        // clock); that every frame with the face left obscured does not.
        for segment in summary.segments {
            let blur = try XCTUnwrap(segment.blur)
            XCTAssertEqual(blur.modelName, "retinaface-tiny")
            XCTAssertEqual(blur.modelSha256, pinnedModelSha256)
            XCTAssertEqual(blur.framesBlurred + blur.framesFailedClosed, segment.frameCount)
        }
        XCTAssertGreaterThanOrEqual(summary.segments.first?.blur?.facesFound ?? 0, 1)
        XCTAssertEqual(events.segments.map { $0.0 }, summary.segments)
        let report = try verifyDataset(dir: session.segmentDir(), identities: [owner.identity.secretKey], ownerKeyHex: owner.keyHex)
        XCTAssertTrue(report.allVerified)
    }
}

/// A tus 1.0 server (core + creation) in memory. The tests hand it each
/// chunk job's request with its body file, as a background `URLSession`
/// would send them (a real background session needs an app bundle).
final class InMemoryTus: HttpTransport, @unchecked Sendable {
    struct Upload {
        let length: Int
        let name: String
        var bytes = Data()
    }

    var uploads: [String: Upload] = [:]
    var patchOffsets: [String: [Int]] = [:]

    func send(request: HttpRequest) throws -> HttpResponse {
        let header = { (name: String) in request.headers.first { $0.name.caseInsensitiveCompare(name) == .orderedSame }?.value }
        guard header("Tus-Resumable") == "1.0.0" else { return respond(412) }
        switch request.method {
        case "POST":
            // tus 1.0 §5.1.3: comma-separated "key base64(value)" pairs.
            var name = ""
            for pair in (header("Upload-Metadata") ?? "").split(separator: ",") {
                let parts = pair.split(separator: " ")
                if parts.count == 2, parts[0] == "filename", let value = Data(base64Encoded: String(parts[1])) {
                    name = String(decoding: value, as: UTF8.self)
                }
            }
            let id = "\(uploads.count + 1)"
            uploads["https://tus.example/files/\(id)"] = Upload(length: Int(header("Upload-Length") ?? "") ?? 0, name: name)
            return respond(201, ["Location": "/files/\(id)"])
        case "HEAD":
            guard let upload = uploads[request.url] else { return respond(404) }
            return respond(200, ["Upload-Offset": "\(upload.bytes.count)", "Upload-Length": "\(upload.length)"])
        case "PATCH":
            guard var upload = uploads[request.url] else { return respond(404) }
            guard Int(header("Upload-Offset") ?? "") == upload.bytes.count else { return respond(409) }
            patchOffsets[upload.name, default: []].append(upload.bytes.count)
            upload.bytes.append(request.body)
            uploads[request.url] = upload
            return respond(204, ["Upload-Offset": "\(upload.bytes.count)"])
        default:
            return respond(405)
        }
    }

    func files() -> [String: Data] {
        Dictionary(uniqueKeysWithValues: uploads.values.map { ($0.name, $0.bytes) })
    }

    private func respond(_ status: UInt16, _ headers: [String: String] = [:]) -> HttpResponse {
        HttpResponse(status: status, headers: headers.map { HttpHeader(name: $0.key, value: $0.value) } + [HttpHeader(name: "Tus-Resumable", value: "1.0.0")])
    }
}

extension EgocapTests {
    /// A sealed session's files (random bytes: the queue sends files, it does not open them).
    func fakeSealedSession(root: String) throws -> [String: Data] {
        let id = String(repeating: "c0", count: 16)
        let dir = (root as NSString).appendingPathComponent(id)
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        var files: [String: Data] = [:]
        for (name, size) in [("device.json", 300), ("consent.json", 400), ("seg-000000.record.json", 500), ("seg-000000.mp4.age", 4_500)] {
            let bytes = Data((0..<size).map { _ in UInt8.random(in: 0...255) })
            try bytes.write(to: URL(fileURLWithPath: (dir as NSString).appendingPathComponent(name)))
            files["\(id)/\(name)"] = bytes
        }
        return files
    }

    /// Sends a job's request with its body file, as the background session would.
    func send(_ job: ChunkJob, to server: InMemoryTus) throws -> ChunkJobOutcome {
        let body = try Data(contentsOf: URL(fileURLWithPath: job.bodyPath))
        XCTAssertEqual(UInt64(body.count), job.length)
        let request = HttpRequest(method: job.method, url: job.url, headers: job.headers, body: body)
        return .response(response: try server.send(request: request))
    }

    func testChunkJobsSendEverySessionFileAndSurviveARelaunch() throws {
        let recordings = try tempDir()
        let expected = try fakeSealedSession(root: recordings)
        let server = InMemoryTus()
        let journal = (try tempDir() as NSString).appendingPathComponent("upload-journal.db")
        func open() throws -> UploadQueue {
            let queue = try UploadQueue.openTus(
                journalPath: journal, endpoint: "https://tus.example/files/",
                config: UploadQueueConfig(chunkSize: 1000), transport: server, auth: nil)
            queue.setNetwork(network: NetworkState(kind: .unmetered, charging: false))
            _ = try queue.enqueueSessions(root: recordings)
            return queue
        }
        var queue = try open()
        // The first job's task ends while the app is dead.
        guard case let .submit(first) = try queue.planChunkJob() else { return XCTFail("no job") }
        let lateReport = try send(first, to: server)
        queue = try open()
        XCTAssertEqual(try queue.planChunkJob(), .busy(jobId: first.id))
        XCTAssertEqual(try queue.reconcileChunkJobs(liveJobIds: []), 0)
        XCTAssertEqual(try queue.finishChunkJob(jobId: first.id, outcome: lateReport), .unknown)
        while true {
            switch try queue.planChunkJob() {
            case let .submit(job):
                let finished = try queue.finishChunkJob(jobId: job.id, outcome: try send(job, to: server))
                XCTAssertFalse(FileManager.default.fileExists(atPath: job.bodyPath))
                if case .retrying = finished { XCTFail("\(finished)") }
            case let .idle(outcome):
                XCTAssertEqual(outcome, .empty)
                XCTAssertEqual(server.files(), expected)
                XCTAssertEqual(server.patchOffsets.values.flatMap { $0 }.count, 8, "no chunk sent twice")
                XCTAssertTrue(try queue.status().allSatisfy { $0.state == .complete })
                return
            case let other:
                return XCTFail("unexpected plan \(other)")
            }
        }
    }

    func testChunkJobsFromAnInboxQueueAreATypedError() throws {
        let queue = try UploadQueue.openInbox(
            journalPath: (try tempDir() as NSString).appendingPathComponent("j.db"), inboxDir: try tempDir(),
            config: UploadQueueConfig())
        XCTAssertThrowsError(try queue.planChunkJob()) { error in
            guard case EgocapError.InvalidSettings = error else { return XCTFail("\(error)") }
        }
    }
}
