using System.Buffers.Binary;
using ArchNet.Backends.Abstractions;

namespace Acme.NpuBackend.Tests;

/// <summary>
/// A reference model of the Acme NPU-1 firmware: executes a command stream read from bytes, exactly as FORMAT.md
/// says, with integer arithmetic only (the float input quantization and output dequantization are the host driver's).
/// It reads nothing but the stream, so it checks the format as well as the backend.
/// </summary>
public sealed class NpuSimulator(byte[] file)
{
    private readonly CommandStream _s = CommandStream.Parse(file);

    private RoundingMode Rounding => (RoundingMode)_s.Rounding;
    private bool FloatScale => _s.Requantization == 0;

    /// <summary>Runs the stream; returns each graph output's integers (in output order).</summary>
    public IReadOnlyList<int[]> Run(IReadOnlyList<float[]> inputs)
    {
        var arena = new byte[_s.ArenaBytes];
        var outputs = new SortedDictionary<int, int[]>();
        foreach (var c in _s.Commands)
        {
            var f = c.Fields;
            switch (c.Opcode)
            {
                case Opcode.Input:
                {
                    var t = _s.Tensors[f[0]];
                    var x = inputs[f[1]];
                    for (var i = 0; i < t.Count; i++)
                        Store(arena, t, i, (int)IntegerSemantics.QuantizeFloat(x[i], t.Scale, t.ZeroPoint, t.QMin, t.QMax, Rounding));
                    break;
                }
                case Opcode.Output:
                {
                    var t = _s.Tensors[f[0]];
                    outputs[f[1]] = [.. Enumerable.Range(0, t.Count).Select(i => Load(arena, t, i))];
                    break;
                }
                case Opcode.Conv: Conv(arena, f); break;
                case Opcode.Dense: Dense(arena, f); break;
                case Opcode.MaxPool: MaxPool(arena, f); break;
                case Opcode.GlobalAveragePool:
                {
                    var (x, y) = (_s.Tensors[f[0]], _s.Tensors[f[1]]);
                    var inner = x.Count / (x.Dims[0] * x.Dims[1]);
                    var vals = new int[y.Count];
                    for (var nc = 0; nc < y.Count; nc++)
                    {
                        long acc = 0;
                        for (var i = 0; i < inner; i++) acc += Load(arena, x, nc * inner + i) - x.ZeroPoint;
                        vals[nc] = Requant(acc, f[2], y);
                    }
                    StoreAll(arena, y, vals);
                    break;
                }
                case Opcode.Add: Add(arena, f); break;
                case Opcode.Clamp:
                {
                    var (x, y) = (_s.Tensors[f[0]], _s.Tensors[f[1]]);
                    var vals = new int[y.Count];
                    for (var i = 0; i < y.Count; i++) vals[i] = Rescale(Math.Clamp(Load(arena, x, i), f[2], f[3]), x, y, f[4]);
                    StoreAll(arena, y, vals);
                    break;
                }
                case Opcode.Copy:
                {
                    var (x, y) = (_s.Tensors[f[0]], _s.Tensors[f[1]]);
                    var vals = new int[y.Count];
                    for (var i = 0; i < y.Count; i++) vals[i] = Rescale(Load(arena, x, i), x, y, f[2]);
                    StoreAll(arena, y, vals);
                    break;
                }
                default: throw new InvalidDataException($"unknown opcode 0x{(byte)c.Opcode:x2}");
            }
        }
        return [.. outputs.Values];
    }

    /// <summary>Dequantizes output <paramref name="index"/> as the host driver does: f32(q - z) * s.</summary>
    public float[] Dequantize(int index, int[] q)
    {
        var t = _s.Tensors[_s.Commands.Where(c => c.Opcode == Opcode.Output).First(c => c.Fields[1] == index).Fields[0]];
        return [.. q.Select(v => IntegerSemantics.Dequantize(v, t.Scale, t.ZeroPoint))];
    }

    // Reads happen before writes in every command (values are staged), so an output may share bytes with a dead input.
    private static int Load(byte[] arena, StreamTensor t, int i) => t.Signed ? (sbyte)arena[t.Offset + i] : arena[t.Offset + i];
    private static void Store(byte[] arena, StreamTensor t, int i, int v) => arena[t.Offset + i] = unchecked((byte)v);
    private static void StoreAll(byte[] arena, StreamTensor t, int[] v) { for (var i = 0; i < v.Length; i++) Store(arena, t, i, v[i]); }

    private (float M, long Mult, int Shift) Record(int offset) => (
        BinaryPrimitives.ReadSingleLittleEndian(_s.Weights.AsSpan(offset)),
        BinaryPrimitives.ReadInt32LittleEndian(_s.Weights.AsSpan(offset + 4)),
        BinaryPrimitives.ReadInt32LittleEndian(_s.Weights.AsSpan(offset + 8)));

    private int Requant(long acc, int recordOffset, StreamTensor y)
    {
        acc = IntegerSemantics.SaturateAccumulator(acc, _s.AccumulatorBits);
        var (m, mult, shift) = Record(recordOffset);
        var r = FloatScale ? IntegerSemantics.Round((float)acc * m, Rounding) : IntegerSemantics.RoundShift(acc * mult, shift, Rounding);
        return (int)IntegerSemantics.Saturate(r + y.ZeroPoint, y.QMin, y.QMax);
    }

    private int Rescale(int v, StreamTensor x, StreamTensor y, int record) => record < 0 ? v : Requant(v - x.ZeroPoint, record, y);

    private int Weight(int offset, int bits, int index)
    {
        var perByte = 8 / bits;
        var raw = (_s.Weights[offset + index / perByte] >> (index % perByte * bits)) & ((1 << bits) - 1);
        return raw >= 1 << (bits - 1) ? raw - (1 << bits) : raw;
    }

    private int Bias(int offset, int c) => BinaryPrimitives.ReadInt32LittleEndian(_s.Weights.AsSpan(offset + 4 * c));

    private void Conv(byte[] arena, int[] f)
    {
        var (x, y) = (_s.Tensors[f[0]], _s.Tensors[f[1]]);
        int groups = f[2], KH = f[3], KW = f[4], SH = f[5], SW = f[6], DH = f[7], DW = f[8], PT = f[9], PL = f[10];
        int wOff = f[11], bits = f[12], bOff = f[13], rOff = f[14];
        int N = x.Dims[0], C = x.Dims[1], H = x.Dims[2], W = x.Dims[3], M = y.Dims[1], OH = y.Dims[2], OW = y.Dims[3];
        int Cg = C / groups, Mg = M / groups;
        var vals = new int[y.Count];
        for (var n = 0; n < N; n++)
            for (var m = 0; m < M; m++)
            {
                var g = m / Mg;
                for (var oy = 0; oy < OH; oy++)
                    for (var ox = 0; ox < OW; ox++)
                    {
                        long acc = Bias(bOff, m);
                        for (var c = 0; c < Cg; c++)
                            for (var ky = 0; ky < KH; ky++)
                            {
                                var iy = oy * SH - PT + ky * DH;
                                if (iy < 0 || iy >= H) continue; // padding reads the zero point: contributes 0
                                for (var kx = 0; kx < KW; kx++)
                                {
                                    var ix = ox * SW - PL + kx * DW;
                                    if (ix < 0 || ix >= W) continue;
                                    var xv = Load(arena, x, ((n * C + g * Cg + c) * H + iy) * W + ix) - x.ZeroPoint;
                                    acc += (long)xv * Weight(wOff, bits, ((m * Cg + c) * KH + ky) * KW + kx);
                                }
                            }
                        vals[((n * M + m) * OH + oy) * OW + ox] = Requant(acc, rOff + m * CommandStream.RequantRecordBytes, y);
                    }
            }
        StoreAll(arena, y, vals);
    }

    private void Dense(byte[] arena, int[] f)
    {
        var (x, y) = (_s.Tensors[f[0]], _s.Tensors[f[1]]);
        int wOff = f[2], bits = f[3], bOff = f[4], rOff = f[5];
        int N = y.Dims[^1], K = x.Dims[^1], rows = x.Count / K;
        var vals = new int[y.Count];
        for (var r = 0; r < rows; r++)
            for (var j = 0; j < N; j++)
            {
                long acc = Bias(bOff, j);
                for (var k = 0; k < K; k++) acc += (long)(Load(arena, x, r * K + k) - x.ZeroPoint) * Weight(wOff, bits, j * K + k);
                vals[r * N + j] = Requant(acc, rOff + j * CommandStream.RequantRecordBytes, y);
            }
        StoreAll(arena, y, vals);
    }

    private void MaxPool(byte[] arena, int[] f)
    {
        var (x, y) = (_s.Tensors[f[0]], _s.Tensors[f[1]]);
        int KH = f[2], KW = f[3], SH = f[4], SW = f[5], PT = f[6], PL = f[7], rOff = f[8];
        int NC = x.Dims[0] * x.Dims[1], H = x.Dims[2], W = x.Dims[3], OH = y.Dims[2], OW = y.Dims[3];
        var vals = new int[y.Count];
        for (var nc = 0; nc < NC; nc++)
            for (var oy = 0; oy < OH; oy++)
                for (var ox = 0; ox < OW; ox++)
                {
                    var best = int.MinValue;
                    for (var ky = 0; ky < KH; ky++)
                        for (var kx = 0; kx < KW; kx++)
                        {
                            int iy = oy * SH - PT + ky, ix = ox * SW - PL + kx;
                            if (iy >= 0 && iy < H && ix >= 0 && ix < W) best = Math.Max(best, Load(arena, x, (nc * H + iy) * W + ix));
                        }
                    vals[(nc * OH + oy) * OW + ox] = Rescale(best, x, y, rOff);
                }
        StoreAll(arena, y, vals);
    }

    private void Add(byte[] arena, int[] f)
    {
        var (a, b, y) = (_s.Tensors[f[0]], _s.Tensors[f[1]], _s.Tensors[f[2]]);
        var (ma, multA, shiftA) = Record(f[3]);
        var (mb, multB, shiftB) = Record(f[4]);
        var vals = new int[y.Count];
        for (var i = 0; i < y.Count; i++)
        {
            long da = Load(arena, a, i) - a.ZeroPoint, db = Load(arena, b, i) - b.ZeroPoint;
            long r;
            if (FloatScale) r = IntegerSemantics.Round((float)da * ma + (float)db * mb, Rounding);
            else
            {
                // One shared shift: the smaller-shift multiplier is scaled up to it.
                var n = Math.Max(shiftA, shiftB);
                r = IntegerSemantics.RoundShift(da * (multA << (n - shiftA)) + db * (multB << (n - shiftB)), n, Rounding);
            }
            vals[i] = (int)IntegerSemantics.Saturate(r + y.ZeroPoint, y.QMin, y.QMax);
        }
        StoreAll(arena, y, vals);
    }
}
