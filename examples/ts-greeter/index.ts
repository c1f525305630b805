// TypeScript works as it is: the deploy bundles it with esbuild.
interface GreetEvent {
  name?: string;
  language?: 'en' | 'fr' | 'de';
}

interface Context {
  requestId: string;
  functionName: string;
  getRemainingTimeInMillis(): number;
}

const greetings: Record<NonNullable<GreetEvent['language']>, string> = {
  en: 'Hello',
  fr: 'Bonjour',
  de: 'Hallo',
};

export default async (event: GreetEvent, context: Context) => {
  const language = event.language ?? 'en';
  return {
    greeting: `${greetings[language] ?? greetings.en}, ${event.name ?? 'world'}!`,
    function: context.functionName,
    remainingMs: context.getRemainingTimeInMillis(),
  };
};
