/** @module data/fake-names — name lists the maskers pick from (common given names and surnames, no real person implied). */
export const firstNames = [
  'Olivia', 'Liam', 'Emma', 'Noah', 'Amelia', 'Oliver', 'Ava', 'Elijah', 'Sophia', 'Lucas', 'Mia', 'Mateo', 'Isabella', 'Levi', 'Harper',
  'Asher', 'Evelyn', 'James', 'Luna', 'Leo', 'Camila', 'Ezra', 'Gianna', 'Luca', 'Aria', 'Ethan', 'Ellie', 'Aiden', 'Nora', 'Wyatt',
  'Zoe', 'Sebastian', 'Hazel', 'Hudson', 'Chloe', 'Jack', 'Lily', 'Owen', 'Layla', 'Grayson', 'Penelope', 'Kai', 'Riley', 'Mila',
  'Yuki', 'Aiko', 'Ravi', 'Priya', 'Amara', 'Kofi', 'Ines', 'Mateus', 'Lena', 'Jonas', 'Freya', 'Nils', 'Sofia', 'Marco', 'Elif', 'Omar',
]

export const lastNames = [
  'Smith', 'Johnson', 'Williams', 'Brown', 'Jones', 'Garcia', 'Miller', 'Davis', 'Rodriguez', 'Martinez', 'Hernandez', 'Lopez', 'Gonzalez',
  'Wilson', 'Anderson', 'Thomas', 'Taylor', 'Moore', 'Jackson', 'Martin', 'Lee', 'Perez', 'Thompson', 'White', 'Harris', 'Sanchez',
  'Clark', 'Ramirez', 'Lewis', 'Robinson', 'Walker', 'Young', 'Allen', 'King', 'Wright', 'Scott', 'Torres', 'Nguyen', 'Hill', 'Flores',
  'Tanaka', 'Sato', 'Patel', 'Okafor', 'Mensah', 'Silva', 'Costa', 'Schmidt', 'Muller', 'Larsen', 'Novak', 'Rossi', 'Kaya', 'Haddad',
]
