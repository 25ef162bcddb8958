/** The inputs a genre model can read: the poster image, the movie's title, its plot summary. */
export const MODEL_INPUTS = ['image', 'title', 'plot'] as const;
export type ModelInput = (typeof MODEL_INPUTS)[number];
