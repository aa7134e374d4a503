import Foundation

/// Vector arithmetic for exact search: dot products in SIMD lanes, unit normalization, the stored BLOB form.
///
/// Portable SIMD types rather than Accelerate, which Linux does not have; the compiler maps `SIMD16<Float>` onto
/// whatever vector registers the target has.
package enum VectorMath {
    /// The dot product of `count` floats at `a` and `b`.
    @inline(__always)
    package static func dot(_ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, count: Int) -> Float {
        // Two accumulators so consecutive multiply-adds do not wait on each other.
        var first = SIMD16<Float>()
        var second = SIMD16<Float>()
        var i = 0
        let rawA = UnsafeRawPointer(a)
        let rawB = UnsafeRawPointer(b)
        let stride = MemoryLayout<Float>.stride
        while i + 32 <= count {
            first +=
                rawA.loadUnaligned(fromByteOffset: i * stride, as: SIMD16<Float>.self)
                * rawB.loadUnaligned(fromByteOffset: i * stride, as: SIMD16<Float>.self)
            second +=
                rawA.loadUnaligned(fromByteOffset: (i + 16) * stride, as: SIMD16<Float>.self)
                * rawB.loadUnaligned(fromByteOffset: (i + 16) * stride, as: SIMD16<Float>.self)
            i += 32
        }
        while i + 8 <= count {
            let product =
                rawA.loadUnaligned(fromByteOffset: i * stride, as: SIMD8<Float>.self)
                * rawB.loadUnaligned(fromByteOffset: i * stride, as: SIMD8<Float>.self)
            first.lowHalf += product
            i += 8
        }
        var sum = (first + second).sum()
        while i < count {
            sum += a[i] * b[i]
            i += 1
        }
        return sum
    }

    /// The dot product of two vectors of the same length.
    package static func dot(_ a: [Float], _ b: [Float]) -> Float {
        precondition(a.count == b.count, "vectors of different lengths")
        return a.withUnsafeBufferPointer { pa in
            b.withUnsafeBufferPointer { pb in
                guard let baseA = pa.baseAddress, let baseB = pb.baseAddress else { return 0 }
                return dot(baseA, baseB, count: a.count)
            }
        }
    }

    /// `vector` scaled to length 1; nil when it has no length or holds a NaN or infinity (nothing to compare).
    package static func normalized(_ vector: [Float]) -> [Float]? {
        let norm = dot(vector, vector).squareRoot()
        guard norm.isFinite, norm > 0 else { return nil }
        return vector.map { $0 / norm }
    }

    /// The BLOB form of a vector: float32, little-endian, no header.
    package static func blob(_ vector: [Float]) -> Data {
        var data = Data(capacity: vector.count * 4)
        for value in vector {
            withUnsafeBytes(of: value.bitPattern.littleEndian) { data.append(contentsOf: $0) }
        }
        return data
    }

    /// Appends the floats of a BLOB written by ``blob(_:)`` to `output`; false when its length is not `dimensions` floats.
    @discardableResult
    package static func appendFloats(of data: Data, dimensions: Int, to output: inout [Float]) -> Bool {
        guard data.count == dimensions * 4 else { return false }
        guard dimensions > 0 else { return true }
        data.withUnsafeBytes { raw in
            #if _endian(little)
                // The stored form is the in-memory form: one copy (a search's first load reads 100,000 of these).
                let start = output.count
                output.append(contentsOf: repeatElement(0, count: dimensions))
                output.withUnsafeMutableBytes { destination in
                    destination.baseAddress!.advanced(by: start * 4).copyMemory(from: raw.baseAddress!, byteCount: dimensions * 4)
                }
            #else
                for i in 0..<dimensions {
                    let bits = UInt32(littleEndian: raw.loadUnaligned(fromByteOffset: i * 4, as: UInt32.self))
                    output.append(Float(bitPattern: bits))
                }
            #endif
        }
        return true
    }

    /// The vector stored in a BLOB written by ``blob(_:)``; nil when its length is not a whole number of floats.
    package static func vector(of data: Data) -> [Float]? {
        guard data.count % 4 == 0 else { return nil }
        var output: [Float] = []
        output.reserveCapacity(data.count / 4)
        appendFloats(of: data, dimensions: data.count / 4, to: &output)
        return output
    }
}

/// The best `capacity` of a stream of (score, id) pairs: a bounded min-heap, so a search over n vectors costs
/// n log k rather than a sort of all n. Higher scores rank first; equal scores rank the lower id first.
package struct TopK {
    package struct Entry: Sendable, Hashable {
        package var score: Float
        package var id: Int64
    }

    private let capacity: Int
    /// A min-heap on rank: the worst kept entry is at index 0.
    private var heap: [Entry] = []

    package init(capacity: Int) {
        self.capacity = max(0, capacity)
        heap.reserveCapacity(self.capacity)
    }

    /// Whether `a` ranks below `b`.
    @inline(__always)
    private static func worse(_ a: Entry, _ b: Entry) -> Bool {
        a.score < b.score || (a.score == b.score && a.id > b.id)
    }

    /// Offers one candidate.
    @inline(__always)
    package mutating func offer(score: Float, id: Int64) {
        guard capacity > 0 else { return }
        let entry = Entry(score: score, id: id)
        if heap.count < capacity {
            heap.append(entry)
            siftUp(heap.count - 1)
        } else if Self.worse(heap[0], entry) {
            heap[0] = entry
            siftDown(0)
        }
    }

    /// The kept entries, best first.
    package func sorted() -> [Entry] {
        heap.sorted { Self.worse($1, $0) }
    }

    private mutating func siftUp(_ start: Int) {
        var child = start
        while child > 0 {
            let parent = (child - 1) / 2
            guard Self.worse(heap[child], heap[parent]) else { return }
            heap.swapAt(child, parent)
            child = parent
        }
    }

    private mutating func siftDown(_ start: Int) {
        var parent = start
        while true {
            let left = 2 * parent + 1
            let right = left + 1
            var worst = parent
            if left < heap.count, Self.worse(heap[left], heap[worst]) { worst = left }
            if right < heap.count, Self.worse(heap[right], heap[worst]) { worst = right }
            if worst == parent { return }
            heap.swapAt(parent, worst)
            parent = worst
        }
    }
}
