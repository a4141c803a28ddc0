// express is a dev dependency used only by these tests, without its @types package: typed loosely.
declare module 'express';
