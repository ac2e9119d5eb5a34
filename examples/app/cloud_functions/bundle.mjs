export const nightly = () => 1;
