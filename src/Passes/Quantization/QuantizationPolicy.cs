namespace ArchNet.Passes.Quantization;

/// <summary>
/// The bit widths of one compile, decided once: the chip's formats at the user's widths (<see cref="Target"/>) and the
/// quantizer's choices (<see cref="Options"/>: the range method, which parts of the model are 8-bit). Post-training
/// quantization reads it, and distillation trains at the widths it gives (QuantizationPlan.For), so the two cannot
/// disagree on a layer's width.
/// </summary>
public sealed record QuantizationPolicy(QuantizationTarget Target, QuantizationOptions Options)
{
    public int WeightBits => Target.Weights.Bits;
    public int ActivationBits => Target.Activations.Bits;

    /// <summary>Bits of the first and last weight layers; null: the same as the rest.</summary>
    public int? EdgeLayerBits => Options.EdgeLayers == LayerPrecision.EightBit ? 8 : null;

    /// <summary>Bits of attention's activations; null: the same as the rest.</summary>
    public int? AttentionBits => Options.Attention == LayerPrecision.EightBit ? 8 : null;
}
