/**
 * AdamW (Loshchilov & Hutter): Adam with weight decay applied to the weights
 * directly rather than through the gradient. Biases are not decayed.
 */
export interface AdamWOptions {
  learningRate: number;
  weightDecay: number;
  beta1?: number;
  beta2?: number;
  epsilon?: number;
}

export class AdamW {
  private readonly m: Float64Array[];
  private readonly v: Float64Array[];
  private step = 0;
  private readonly beta1: number;
  private readonly beta2: number;
  private readonly epsilon: number;

  /** `decay[i]` says whether parameter i is a weight (decayed) or a bias. */
  constructor(
    private readonly parameters: Float32Array[],
    private readonly decay: boolean[],
    private readonly options: AdamWOptions,
  ) {
    this.m = parameters.map((p) => new Float64Array(p.length));
    this.v = parameters.map((p) => new Float64Array(p.length));
    this.beta1 = options.beta1 ?? 0.9;
    this.beta2 = options.beta2 ?? 0.999;
    this.epsilon = options.epsilon ?? 1e-8;
  }

  update(grads: Float32Array[], learningRate = this.options.learningRate): void {
    this.step++;
    const c1 = 1 - this.beta1 ** this.step;
    const c2 = 1 - this.beta2 ** this.step;
    this.parameters.forEach((param, k) => {
      const grad = grads[k]!;
      const m = this.m[k]!;
      const v = this.v[k]!;
      const decay = this.decay[k] ? learningRate * this.options.weightDecay : 0;
      for (let i = 0; i < param.length; i++) {
        const g = grad[i]!;
        m[i] = this.beta1 * m[i]! + (1 - this.beta1) * g;
        v[i] = this.beta2 * v[i]! + (1 - this.beta2) * g * g;
        param[i] = param[i]! - decay * param[i]! - (learningRate * (m[i]! / c1)) / (Math.sqrt(v[i]! / c2) + this.epsilon);
      }
    });
  }
}
