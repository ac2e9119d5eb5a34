export const list = () => [];
export const send = () => null;
