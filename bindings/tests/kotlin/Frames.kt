// Synthetic camera frames shaped the way CameraX hands them to an app:
// `ImageProxy.planes` with direct ByteBuffers, row strides padded past the
// width, and for NV21 the U and V planes as overlapping views (pixel
// stride 2) of one interleaved VU buffer.

package egocap.tests

import java.nio.ByteBuffer
import uniffi.egocap_ffi.Frame
import uniffi.egocap_ffi.PixelLayout
import uniffi.egocap_ffi.Plane

/** One `ImageProxy.PlaneProxy`: a direct buffer plus its strides. */
class CameraPlane(val buffer: ByteBuffer, val rowStride: Int, val pixelStride: Int)

/** An NV21 frame as YUV_420_888: Y, then U and V views into one VU buffer. */
class Nv21CameraFrame(val width: Int, val height: Int) {
    val rowStride = (width + 63) / 64 * 64
    private val y: ByteBuffer = ByteBuffer.allocateDirect(rowStride * (height - 1) + width)
    // Interleaved V,U rows; the buffer ends right after the last sample, as on devices.
    private val vu: ByteBuffer = ByteBuffer.allocateDirect(rowStride * (height / 2 - 1) + width)

    val planes: List<CameraPlane>
        get() = listOf(
            CameraPlane(y.duplicate().clear(), rowStride, 1),
            CameraPlane(vu.duplicate().clear().position(1).slice(), rowStride, 2), // U
            CameraPlane(vu.duplicate().clear().limit(vu.capacity() - 1).slice(), rowStride, 2), // V
        )

    /** Paints a moving gradient so the encoder has something to code. */
    fun paint(index: Int) {
        for (row in 0 until height) {
            for (col in 0 until width) {
                y.put(row * rowStride + col, ((col + row + index * 4) and 0xff).toByte())
            }
        }
        for (row in 0 until height / 2) {
            for (col in 0 until width / 2) {
                vu.put(row * rowStride + 2 * col, (128 + (row + index) % 32).toByte())
                vu.put(row * rowStride + 2 * col + 1, (128 - (col + index) % 32).toByte())
            }
        }
    }
}

/** Planar I420 in three tightly packed direct buffers. */
class I420CameraFrame(val width: Int, val height: Int) {
    private val y = ByteBuffer.allocateDirect(width * height)
    private val u = ByteBuffer.allocateDirect(width * height / 4)
    private val v = ByteBuffer.allocateDirect(width * height / 4)

    val planes: List<CameraPlane>
        get() = listOf(
            CameraPlane(y.duplicate().clear(), width, 1),
            CameraPlane(u.duplicate().clear(), width / 2, 1),
            CameraPlane(v.duplicate().clear(), width / 2, 1),
        )

    fun paint(index: Int) {
        for (i in 0 until width * height) y.put(i, ((i % width + index * 3) and 0xff).toByte())
        for (i in 0 until width * height / 4) {
            u.put(i, (100 + index % 50).toByte())
            v.put(i, (150 - index % 50).toByte())
        }
    }
}

/**
 * What an app does in its `ImageAnalysis.Analyzer`: copy each plane's
 * direct buffer into a byte array (the app's copy; for NV21's three-plane
 * view the interleaved VU buffer is copied twice, once per view) and build
 * the frame with its own size and layout.
 */
fun toFrame(width: Int, height: Int, layout: PixelLayout, planes: List<CameraPlane>, timestampNs: Long): Frame =
    Frame(
        width.toUInt(),
        height.toUInt(),
        layout,
        planes.map { plane ->
            val bytes = ByteArray(plane.buffer.remaining())
            plane.buffer.duplicate().get(bytes)
            Plane(bytes, plane.rowStride.toUInt(), plane.pixelStride.toUInt())
        },
        timestampNs,
    )

fun Nv21CameraFrame.frame(timestampNs: Long): Frame = toFrame(width, height, PixelLayout.NV21, planes, timestampNs)

fun I420CameraFrame.frame(timestampNs: Long): Frame = toFrame(width, height, PixelLayout.I420, planes, timestampNs)
